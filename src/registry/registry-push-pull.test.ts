// The OCI distribution API through the HTTP edge, on every database under test: pushes in all
// their forms, pulls with ranges and content negotiation, listings, referrers and deletes.
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { digestOf } from '../lib/digest.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { MediaTypes } from './manifest.js';
import { dockerManifest, errorCode, pushBlob, pushImage, putManifest } from './test-helpers.js';

describe.each(testDialects())('registry push and pull (%s)', (dialect) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(dialect, { registry: { maxPageSize: 50 } });
  });
  afterAll(async () => t.dispose());
  const app = () => t.server.app;
  let listening: Promise<string> | undefined;
  const serverUrl = () => (listening ??= t.server.listen());

  it('answers the base endpoint with the API version header', async () => {
    const res = await app().inject({ method: 'GET', url: '/v2/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
  });

  it('pushes a blob monolithically and serves it with HEAD, GET and Range', async () => {
    const data = randomBytes(1000);
    const digest = await pushBlob(app(), 'mono/repo', data);
    const head = await app().inject({ method: 'HEAD', url: `/v2/mono/repo/blobs/${digest}` });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe('1000');
    expect(head.headers['docker-content-digest']).toBe(digest);
    const get = await app().inject({ method: 'GET', url: `/v2/mono/repo/blobs/${digest}` });
    expect(get.rawPayload.equals(data)).toBe(true);
    expect(get.headers['docker-content-digest']).toBe(digest);
    const ranged = await app().inject({
      method: 'GET',
      url: `/v2/mono/repo/blobs/${digest}`,
      headers: { range: 'bytes=10-19' },
    });
    expect(ranged.statusCode).toBe(206);
    expect(ranged.headers['content-range']).toBe('bytes 10-19/1000');
    expect(ranged.rawPayload.equals(data.subarray(10, 20))).toBe(true);
    const suffix = await app().inject({
      method: 'GET',
      url: `/v2/mono/repo/blobs/${digest}`,
      headers: { range: 'bytes=-5' },
    });
    expect(suffix.rawPayload.equals(data.subarray(995))).toBe(true);
    const outside = await app().inject({
      method: 'GET',
      url: `/v2/mono/repo/blobs/${digest}`,
      headers: { range: 'bytes=5000-' },
    });
    expect(outside.statusCode).toBe(416);
    expect(outside.headers['content-range']).toBe('bytes */1000');
  });

  it('serves a large blob intact over a real socket to a slow reader (send buffers are reused)', async () => {
    const data = randomBytes(9 * 1024 * 1024 + 123);
    const digest = await pushBlob(app(), 'socket/repo', data);
    const url = await serverUrl();
    const received = await new Promise<Buffer>((resolve, reject) => {
      get(`${url}/v2/socket/repo/blobs/${digest}`, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          parts.push(chunk);
          // Read slowly so the server meets backpressure and must wait for its writes.
          res.pause();
          setTimeout(() => res.resume(), 2);
        });
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(received.length).toBe(data.length);
    expect(digestOf(received)).toBe(digest);
  });

  it('survives clients that hang up in the middle of a blob download', async () => {
    const data = randomBytes(16 * 1024 * 1024);
    const digest = await pushBlob(app(), 'socket/abort', data);
    const url = await serverUrl();
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) => {
        const request = get(`${url}/v2/socket/abort/blobs/${digest}`, (res) => {
          res.once('data', () => {
            request.destroy();
            resolve();
          });
        });
        request.on('error', (error: NodeJS.ErrnoException) =>
          error.code === 'ECONNRESET' ? resolve() : reject(error),
        );
      });
    }
    await new Promise((r) => setTimeout(r, 200));
    const after = await app().inject({ method: 'GET', url: `/v2/socket/abort/blobs/${digest}` });
    expect(after.statusCode).toBe(200);
    expect(digestOf(after.rawPayload)).toBe(digest);
  });

  it('pushes with POST then PUT, and with sha512', async () => {
    const data = randomBytes(300);
    const start = await app().inject({ method: 'POST', url: '/v2/postput/blobs/uploads/' });
    expect(start.statusCode).toBe(202);
    const location = start.headers.location as string;
    expect(location).toMatch(/^\/v2\/postput\/blobs\/uploads\/[0-9a-f-]+$/);
    expect(start.headers['docker-upload-uuid']).toBeTruthy();
    const digest512 = digestOf(data, 'sha512');
    const put = await app().inject({
      method: 'PUT',
      url: `${location}?digest=${digest512}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: data,
    });
    expect(put.statusCode, put.body).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(digest512);
    const get = await app().inject({ method: 'GET', url: `/v2/postput/blobs/${digest512}` });
    expect(get.rawPayload.equals(data)).toBe(true);
  });

  it('pushes in chunks with Content-Range, reports status, and refuses out-of-order chunks with 416', async () => {
    const data = randomBytes(3000);
    const start = await app().inject({ method: 'POST', url: '/v2/chunked/blobs/uploads/' });
    const location = start.headers.location as string;
    const patch = (from: number, to: number) =>
      app().inject({
        method: 'PATCH',
        url: location,
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${to - 1}` },
        payload: data.subarray(from, to),
      });
    const first = await patch(0, 1000);
    expect(first.statusCode).toBe(202);
    expect(first.headers.range).toBe('0-999');
    const skipped = await patch(2000, 3000);
    expect(skipped.statusCode).toBe(416);
    expect(errorCode(skipped)).toBe('RANGE_INVALID');
    expect(skipped.headers.range).toBe('0-999');
    const status = await app().inject({ method: 'GET', url: location });
    expect(status.statusCode).toBe(204);
    expect(status.headers.range).toBe('0-999');
    expect((await patch(1000, 2000)).headers.range).toBe('0-1999');
    const put = await app().inject({
      method: 'PUT',
      url: `${location}?digest=${digestOf(data)}`,
      headers: { 'content-type': 'application/octet-stream', 'content-range': '2000-2999' },
      payload: data.subarray(2000),
    });
    expect(put.statusCode, put.body).toBe(201);
    const get = await app().inject({ method: 'GET', url: `/v2/chunked/blobs/${digestOf(data)}` });
    expect(get.rawPayload.equals(data)).toBe(true);
  });

  it('accepts a streamed PATCH without Content-Range', async () => {
    const data = randomBytes(5000);
    const start = await app().inject({ method: 'POST', url: '/v2/streamed/blobs/uploads/' });
    const location = start.headers.location as string;
    const patch = await app().inject({
      method: 'PATCH',
      url: location,
      headers: { 'content-type': 'application/octet-stream' },
      payload: data,
    });
    expect(patch.statusCode).toBe(202);
    expect(patch.headers.range).toBe('0-4999');
    const put = await app().inject({ method: 'PUT', url: `${location}?digest=${digestOf(data)}` });
    expect(put.statusCode, put.body).toBe(201);
    const upload = await app().inject({ method: 'GET', url: location });
    expect(upload.statusCode).toBe(404);
    expect(errorCode(upload)).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('cancels an upload', async () => {
    const start = await app().inject({ method: 'POST', url: '/v2/cancel/blobs/uploads/' });
    const location = start.headers.location as string;
    const cancel = await app().inject({ method: 'DELETE', url: location });
    expect(cancel.statusCode).toBe(204);
    const status = await app().inject({ method: 'GET', url: location });
    expect(errorCode(status)).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('mounts across repositories, and falls back to an upload when the source lacks the blob', async () => {
    const data = randomBytes(100);
    const digest = await pushBlob(app(), 'mount/source', data);
    const mount = await app().inject({
      method: 'POST',
      url: `/v2/mount/target/blobs/uploads/?mount=${digest}&from=mount/source`,
    });
    expect(mount.statusCode).toBe(201);
    expect(mount.headers['docker-content-digest']).toBe(digest);
    expect(mount.headers.location).toBe(`/v2/mount/target/blobs/${digest}`);
    const head = await app().inject({ method: 'HEAD', url: `/v2/mount/target/blobs/${digest}` });
    expect(head.statusCode).toBe(200);
    const missing = digestOf(randomBytes(10));
    const fallback = await app().inject({
      method: 'POST',
      url: `/v2/mount/target/blobs/uploads/?mount=${missing}&from=mount/source`,
    });
    expect(fallback.statusCode).toBe(202);
    expect(fallback.headers.location).toMatch(/^\/v2\/mount\/target\/blobs\/uploads\//);
  });

  it('keeps blobs scoped to their repository', async () => {
    const digest = await pushBlob(app(), 'scoped/a', randomBytes(64));
    const other = await app().inject({ method: 'GET', url: `/v2/scoped/b/blobs/${digest}` });
    expect(other.statusCode).toBe(404);
    expect(errorCode(other)).toBe('BLOB_UNKNOWN');
  });

  it('pushes and pulls an OCI image manifest by tag and by digest', async () => {
    const image = await pushImage(app(), 'images/app', 'v1');
    for (const ref of ['v1', image.digest]) {
      const get = await app().inject({
        method: 'GET',
        url: `/v2/images/app/manifests/${ref}`,
        headers: { accept: `${MediaTypes.ociManifest}, ${MediaTypes.dockerManifest}` },
      });
      expect(get.statusCode).toBe(200);
      expect(get.headers['content-type']).toBe(MediaTypes.ociManifest);
      expect(get.headers['docker-content-digest']).toBe(image.digest);
      expect(get.rawPayload.equals(image.manifest)).toBe(true);
      const head = await app().inject({ method: 'HEAD', url: `/v2/images/app/manifests/${ref}` });
      expect(head.statusCode).toBe(200);
      expect(head.headers['content-length']).toBe(String(image.manifest.length));
      expect(head.headers['docker-content-digest']).toBe(image.digest);
    }
    const byDigest = await putManifest(app(), 'images/app', image.digest, image.manifest);
    expect(byDigest.statusCode).toBe(201);
    expect(byDigest.headers.location).toBe(`/v2/images/app/manifests/${image.digest}`);
  });

  it('negotiates content: a client that accepts only Docker types does not get an OCI manifest', async () => {
    const image = await pushImage(app(), 'negotiate/app', 'v1');
    const res = await app().inject({
      method: 'GET',
      url: `/v2/negotiate/app/manifests/${image.digest}`,
      headers: { accept: MediaTypes.dockerManifest },
    });
    expect(res.statusCode).toBe(404);
    expect(errorCode(res)).toBe('MANIFEST_UNKNOWN');
    const wildcard = await app().inject({
      method: 'GET',
      url: `/v2/negotiate/app/manifests/v1`,
      headers: { accept: '*/*' },
    });
    expect(wildcard.statusCode).toBe(200);
  });

  it('stores Docker schema 2 manifests and manifest lists, and OCI indexes', async () => {
    const config = Buffer.from('{"architecture":"arm64","os":"linux"}');
    const layer = randomBytes(200);
    const cd = await pushBlob(app(), 'multi/app', config);
    const ld = await pushBlob(app(), 'multi/app', layer);
    const docker = dockerManifest({ digest: cd, size: config.length }, [{ digest: ld, size: layer.length }]);
    const put = await putManifest(app(), 'multi/app', 'docker', docker, MediaTypes.dockerManifest);
    expect(put.statusCode, put.body).toBe(201);
    const list = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.dockerList,
        manifests: [
          {
            mediaType: MediaTypes.dockerManifest,
            digest: digestOf(docker),
            size: docker.length,
            platform: { architecture: 'arm64', os: 'linux' },
          },
        ],
      }),
    );
    const putList = await putManifest(app(), 'multi/app', 'list', list, MediaTypes.dockerList);
    expect(putList.statusCode, putList.body).toBe(201);
    const get = await app().inject({
      method: 'GET',
      url: '/v2/multi/app/manifests/list',
      headers: { accept: MediaTypes.dockerList },
    });
    expect(get.headers['content-type']).toBe(MediaTypes.dockerList);
    expect(get.rawPayload.equals(list)).toBe(true);

    const image = await pushImage(app(), 'multi/app', 'amd64');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [{ mediaType: MediaTypes.ociManifest, digest: image.digest, size: image.manifest.length }],
      }),
    );
    const putIndex = await putManifest(app(), 'multi/app', 'index', index, MediaTypes.ociIndex);
    expect(putIndex.statusCode, putIndex.body).toBe(201);
  });

  it('sets OCI-Subject and lists referrers with artifactType filtering', async () => {
    const image = await pushImage(app(), 'refs/app', 'v1');
    const empty = Buffer.from('{}');
    const emptyDigest = await pushBlob(app(), 'refs/app', empty);
    const emptyDescriptor = { mediaType: MediaTypes.ociEmpty, digest: emptyDigest, size: 2 };
    const referrer = (artifactType: string) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaTypes.ociManifest,
          artifactType,
          config: emptyDescriptor,
          layers: [emptyDescriptor],
          subject: { mediaType: MediaTypes.ociManifest, digest: image.digest, size: image.manifest.length },
          annotations: { 'org.example.kind': artifactType },
        }),
      );
    const sbom = referrer('application/spdx+json');
    const sig = referrer('application/vnd.example.signature');
    for (const body of [sbom, sig]) {
      const res = await putManifest(app(), 'refs/app', digestOf(body), body);
      expect(res.statusCode, res.body).toBe(201);
      expect(res.headers['oci-subject']).toBe(image.digest);
    }
    const all = await app().inject({ method: 'GET', url: `/v2/refs/app/referrers/${image.digest}` });
    expect(all.statusCode).toBe(200);
    expect(all.headers['content-type']).toBe(MediaTypes.ociIndex);
    const index = all.json<{ manifests: { digest: string; artifactType: string; annotations: object }[] }>();
    expect(index.manifests.map((m) => m.digest).sort()).toEqual([digestOf(sbom), digestOf(sig)].sort());
    expect(index.manifests.find((m) => m.digest === digestOf(sbom))?.annotations).toEqual({
      'org.example.kind': 'application/spdx+json',
    });
    const filtered = await app().inject({
      method: 'GET',
      url: `/v2/refs/app/referrers/${image.digest}?artifactType=application/spdx%2Bjson`,
    });
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    expect(filtered.json<{ manifests: { digest: string }[] }>().manifests.map((m) => m.digest)).toEqual([
      digestOf(sbom),
    ]);
    const unknown = await app().inject({
      method: 'GET',
      url: `/v2/refs/app/referrers/${digestOf(randomBytes(4))}`,
    });
    expect(unknown.statusCode).toBe(200);
    expect(unknown.json<{ manifests: unknown[] }>().manifests).toEqual([]);
    const getReferrer = await app().inject({
      method: 'GET',
      url: `/v2/refs/app/manifests/${digestOf(sbom)}`,
    });
    expect(getReferrer.headers['oci-subject']).toBe(image.digest);
  });

  it('lists tags and repositories with n/last pagination and Link headers', async () => {
    for (const tag of ['c', 'a', 'b', 'd']) await pushImage(app(), 'paged/app', tag);
    const page1 = await app().inject({ method: 'GET', url: '/v2/paged/app/tags/list?n=2' });
    expect(page1.json()).toEqual({ name: 'paged/app', tags: ['a', 'b'] });
    expect(page1.headers.link).toBe('</v2/paged/app/tags/list?n=2&last=b>; rel="next"');
    const page2 = await app().inject({ method: 'GET', url: '/v2/paged/app/tags/list?n=2&last=b' });
    expect(page2.json()).toEqual({ name: 'paged/app', tags: ['c', 'd'] });
    const all = await app().inject({ method: 'GET', url: '/v2/paged/app/tags/list' });
    expect(all.json<{ tags: string[] }>().tags).toEqual(['a', 'b', 'c', 'd']);
    expect(all.headers.link).toBeUndefined();
    const zero = await app().inject({ method: 'GET', url: '/v2/paged/app/tags/list?n=0' });
    expect(zero.json<{ tags: string[] }>().tags).toEqual([]);
    const bad = await app().inject({ method: 'GET', url: '/v2/paged/app/tags/list?n=-1' });
    expect(bad.statusCode).toBe(400);
    expect(errorCode(bad)).toBe('PAGINATION_NUMBER_INVALID');
    const unknown = await app().inject({ method: 'GET', url: '/v2/never/pushed/tags/list' });
    expect(unknown.statusCode).toBe(404);
    expect(errorCode(unknown)).toBe('NAME_UNKNOWN');

    const catalog = await app().inject({ method: 'GET', url: '/v2/_catalog?n=1' });
    const first = catalog.json<{ repositories: string[] }>().repositories;
    expect(first).toHaveLength(1);
    expect(catalog.headers.link).toBe(`</v2/_catalog?n=1&last=${encodeURIComponent(first[0]!)}>; rel="next"`);
    const rest = await app().inject({ method: 'GET', url: `/v2/_catalog?n=1000&last=${first[0]}` });
    expect(rest.json<{ repositories: string[] }>().repositories).toContain('paged/app');
  });

  it('caps listings at the configured page size and links to the rest', async () => {
    for (let i = 0; i < 51; i++) await pushImage(app(), 'capped/app', `t${String(i).padStart(3, '0')}`);
    const res = await app().inject({ method: 'GET', url: '/v2/capped/app/tags/list' });
    expect(res.json<{ tags: string[] }>().tags).toHaveLength(50);
    expect(res.headers.link).toBe('</v2/capped/app/tags/list?n=50&last=t049>; rel="next"');
  });

  it('deletes tags, manifests and blobs', async () => {
    const image = await pushImage(app(), 'del/app', 'v1');
    await putManifest(app(), 'del/app', 'v2', image.manifest);
    const delTag = await app().inject({ method: 'DELETE', url: '/v2/del/app/manifests/v1' });
    expect(delTag.statusCode).toBe(202);
    expect((await app().inject({ method: 'GET', url: '/v2/del/app/manifests/v1' })).statusCode).toBe(404);
    expect((await app().inject({ method: 'GET', url: '/v2/del/app/manifests/v2' })).statusCode).toBe(200);
    const delManifest = await app().inject({
      method: 'DELETE',
      url: `/v2/del/app/manifests/${image.digest}`,
    });
    expect(delManifest.statusCode).toBe(202);
    const gone = await app().inject({ method: 'GET', url: '/v2/del/app/manifests/v2' });
    expect(errorCode(gone)).toBe('MANIFEST_UNKNOWN');
    const again = await app().inject({ method: 'DELETE', url: `/v2/del/app/manifests/${image.digest}` });
    expect(again.statusCode).toBe(404);
    const delBlob = await app().inject({ method: 'DELETE', url: `/v2/del/app/blobs/${image.layerDigest}` });
    expect(delBlob.statusCode).toBe(202);
    const head = await app().inject({ method: 'HEAD', url: `/v2/del/app/blobs/${image.layerDigest}` });
    expect(head.statusCode).toBe(404);
  });

  it('answers unknown endpoints and methods with OCI errors', async () => {
    const res = await app().inject({ method: 'GET', url: '/v2/x/unknown/thing/here' });
    expect(res.statusCode).toBe(404);
    expect(errorCode(res)).toBe('UNSUPPORTED');
    const method = await app().inject({ method: 'POST', url: '/v2/x/manifests/latest' });
    expect(method.statusCode).toBe(405);
    expect(errorCode(method)).toBe('UNSUPPORTED');
  });

  it('keeps image manifests referencing layers by descriptors with urls (non-distributable)', async () => {
    const config = Buffer.from('{"os":"windows"}');
    const cd = await pushBlob(app(), 'foreign/app', config);
    const body = dockerManifest({ digest: cd, size: config.length }, [
      {
        mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
        digest: digestOf(Buffer.from('foreign')),
        size: 7,
        urls: ['https://example.invalid/layer'],
      },
    ]);
    const res = await putManifest(app(), 'foreign/app', 'v1', body, MediaTypes.dockerManifest);
    expect(res.statusCode, res.body).toBe(201);
  });
});
