// Bad input through the HTTP edge: every case gets the spec's error code and a clear message,
// leaves every stored row and file exactly as it was, and never shows a stack trace or a path.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { digestOf } from '../lib/digest.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { MediaTypes } from './manifest.js';
import { errorCode, imageManifest, pushBlob, pushImage, putManifest, snapshot } from './test-helpers.js';

describe.each(testDialects())('registry bad input (%s)', (dialect) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(dialect);
    await pushImage(t.server.app, 'base/app', 'v1');
  });
  afterAll(async () => t.dispose());
  const app = () => t.server.app;

  /** Runs `act`, checks status and code, and that nothing stored changed. */
  async function refuses(
    act: () => Promise<LightMyRequestResponse>,
    status: number,
    code: string,
  ): Promise<LightMyRequestResponse> {
    const before = await snapshot(t);
    const res = await act();
    expect(res.statusCode, res.body).toBe(status);
    expect(errorCode(res)).toBe(code);
    const message = res.json<{ errors: { message: string }[] }>().errors[0]!.message;
    expect(message.length).toBeGreaterThan(10);
    expect(res.body).not.toMatch(/\/tmp\/|palisade-test-|\bat [\w.<>]+ \(|node_modules|SELECT|sqlite/i);
    expect(await snapshot(t)).toBe(before);
    return res;
  }

  async function openUpload(repo: string): Promise<string> {
    const res = await app().inject({ method: 'POST', url: `/v2/${repo}/blobs/uploads/` });
    return res.headers.location as string;
  }

  it('refuses a blob whose content does not match its digest', async () => {
    const wrong = digestOf(Buffer.from('something else'));
    await refuses(
      () =>
        app().inject({
          method: 'POST',
          url: `/v2/base/app/blobs/uploads/?digest=${wrong}`,
          headers: { 'content-type': 'application/octet-stream' },
          payload: randomBytes(100),
        }),
      400,
      'DIGEST_INVALID',
    );
    const head = await app().inject({ method: 'HEAD', url: `/v2/base/app/blobs/${wrong}` });
    expect(head.statusCode).toBe(404);
  });

  it('refuses unsupported digest algorithms and malformed digests', async () => {
    for (const digest of [
      'md5:d41d8cd98f00b204e9800998ecf8427e',
      'sha256:xyz',
      'sha256:' + 'A'.repeat(64),
      'nocolon',
    ]) {
      await refuses(
        () =>
          app().inject({
            method: 'POST',
            url: `/v2/base/app/blobs/uploads/?digest=${digest}`,
            headers: { 'content-type': 'application/octet-stream' },
            payload: 'abc',
          }),
        400,
        'DIGEST_INVALID',
      );
    }
    await refuses(
      () => app().inject({ method: 'GET', url: '/v2/base/app/blobs/sha1:abc' }),
      400,
      'DIGEST_INVALID',
    );
  });

  it('refuses a chunk whose body is longer or shorter than its Content-Range', async () => {
    const location = await openUpload('base/app');
    const before = await snapshot(t);
    for (const payload of [randomBytes(20), randomBytes(5)]) {
      const res = await app().inject({
        method: 'PATCH',
        url: location,
        headers: { 'content-type': 'application/octet-stream', 'content-range': '0-9' },
        payload,
      });
      expect(res.statusCode).toBe(400);
      expect(errorCode(res)).toBe('SIZE_INVALID');
    }
    expect(await snapshot(t)).toBe(before);
    const status = await app().inject({ method: 'GET', url: location });
    expect(status.headers.range).toBe('0-0');
    expect(await t.server.registry.blobs.uploadSize(location.split('/').pop()!)).toBe(0);
  });

  it('rolls back a chunk whose body stream breaks half-way (truncated upload)', async () => {
    const location = await openUpload('base/app');
    const id = location.split('/').pop()!;
    const good = randomBytes(100);
    await app().inject({
      method: 'PATCH',
      url: location,
      headers: { 'content-type': 'application/octet-stream' },
      payload: good,
    });
    const before = await snapshot(t);
    const broken = new Readable({
      read() {
        this.push(randomBytes(1000));
        this.destroy(new Error('connection reset'));
      },
    });
    await expect(
      t.server.registry.appendChunk('base/app', id, broken, undefined, 5000),
    ).rejects.toMatchObject({
      code: 'BLOB_UPLOAD_INVALID',
    });
    expect(await t.server.registry.blobs.uploadSize(id)).toBe(100);
    expect(await snapshot(t)).toBe(before);
    const put = await app().inject({ method: 'PUT', url: `${location}?digest=${digestOf(good)}` });
    expect(put.statusCode).toBe(201);
  });

  it('refuses unknown upload ids, and ids of another repository', async () => {
    const unknown = '/v2/base/app/blobs/uploads/6f1c0d2e-0000-4000-8000-000000000000';
    await refuses(() => app().inject({ method: 'GET', url: unknown }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await refuses(
      () => app().inject({ method: 'PATCH', url: unknown, payload: 'x', headers: { 'content-type': 'x/y' } }),
      404,
      'BLOB_UPLOAD_UNKNOWN',
    );
    await refuses(
      () => app().inject({ method: 'GET', url: '/v2/base/app/blobs/uploads/..%2f..%2fetc' }),
      404,
      'BLOB_UPLOAD_UNKNOWN',
    );
    const location = await openUpload('base/app');
    const foreign = location.replace('/v2/base/app/', '/v2/other/repo/');
    await refuses(() => app().inject({ method: 'DELETE', url: foreign }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('refuses completing an upload without a digest, or with the wrong one', async () => {
    const location = await openUpload('base/app');
    await app().inject({
      method: 'PATCH',
      url: location,
      payload: randomBytes(10),
      headers: { 'content-type': 'a/b' },
    });
    await refuses(() => app().inject({ method: 'PUT', url: location }), 400, 'DIGEST_INVALID');
    await refuses(
      () => app().inject({ method: 'PUT', url: `${location}?digest=${digestOf(Buffer.from('x'))}` }),
      400,
      'DIGEST_INVALID',
    );
  });

  it('refuses manifests that are not JSON, fail the schema, or are too deep', async () => {
    const cases: [Buffer | string, string][] = [
      ['not json at all', MediaTypes.ociManifest],
      ['[1,2,3]', MediaTypes.ociManifest],
      [
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}',
        MediaTypes.ociManifest,
      ],
      ['{"schemaVersion":1,"config":{},"layers":[]}', MediaTypes.ociManifest],
      [
        '{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"md5:00","size":1},"layers":[]}',
        MediaTypes.ociManifest,
      ],
      ['{"schemaVersion":2,"manifests":"nope"}', MediaTypes.ociIndex],
      [`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`, MediaTypes.ociManifest],
      [
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}',
        MediaTypes.ociManifest,
      ],
      ['{"schemaVersion":2,"config":{},"layers":[]}', 'application/x-unknown'],
    ];
    for (const [body, type] of cases) {
      await refuses(
        () => putManifest(app(), 'base/app', 'bad', Buffer.from(body), type),
        400,
        'MANIFEST_INVALID',
      );
    }
    const tag = await app().inject({ method: 'GET', url: '/v2/base/app/manifests/bad' });
    expect(tag.statusCode).toBe(404);
  });

  it('refuses a manifest over 4 MiB with 413', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    await refuses(() => putManifest(app(), 'base/app', 'huge', big), 413, 'SIZE_INVALID');
  });

  it('refuses a manifest that references blobs or children the repository does not have', async () => {
    const config = Buffer.from('{"os":"linux"}');
    const cd = await pushBlob(app(), 'base/app', config);
    const missing = digestOf(randomBytes(32));
    const body = imageManifest({ digest: cd, size: config.length }, [{ digest: missing, size: 32 }]);
    const res = await refuses(
      () => putManifest(app(), 'base/app', 'missing', body),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
    expect(res.json<{ errors: { detail: { digest: string } }[] }>().errors[0]!.detail.digest).toBe(missing);
    // A blob of another repository does not count.
    const elsewhere = await pushBlob(app(), 'other/app', randomBytes(32));
    const cross = imageManifest({ digest: cd, size: config.length }, [{ digest: elsewhere, size: 32 }]);
    await refuses(() => putManifest(app(), 'base/app', 'cross', cross), 400, 'MANIFEST_BLOB_UNKNOWN');
    const wrongSize = imageManifest({ digest: cd, size: config.length + 1 }, []);
    await refuses(() => putManifest(app(), 'base/app', 'size', wrongSize), 400, 'MANIFEST_INVALID');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [{ mediaType: MediaTypes.ociManifest, digest: missing, size: 100 }],
      }),
    );
    await refuses(
      () => putManifest(app(), 'base/app', 'idx', index, MediaTypes.ociIndex),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
  });

  it('refuses a manifest pushed by a digest it does not have', async () => {
    const image = await pushImage(app(), 'base/app', 'v2');
    const wrong = digestOf(Buffer.from('other'));
    await refuses(() => putManifest(app(), 'base/app', wrong, image.manifest), 400, 'DIGEST_INVALID');
  });

  it('refuses repository names outside the grammar', async () => {
    const names = ['UPPER/case', 'a//b', '-leading', 'trailing-', 'a'.repeat(256), 'caf%C3%A9', 'a/b%2fc'];
    for (const name of names) {
      await refuses(() => app().inject({ method: 'GET', url: `/v2/${name}/tags/list` }), 400, 'NAME_INVALID');
      await refuses(
        () => app().inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/` }),
        400,
        'NAME_INVALID',
      );
    }
    await refuses(
      () => app().inject({ method: 'GET', url: '/v2//etc/passwd/tags/list' }),
      400,
      'NAME_INVALID',
    );
    const ok = await app().inject({ method: 'GET', url: `/v2/${'a'.repeat(255)}/tags/list` });
    expect(ok.statusCode).toBe(404);
    expect(errorCode(ok)).toBe('NAME_UNKNOWN');
  });

  it('refuses dot segments sent literally on the wire (no client-side normalisation)', async () => {
    const url = await t.server.listen();
    const { port } = new URL(url);
    for (const path of [
      '/v2/a/../b/tags/list',
      '/v2/../../etc/passwd/tags/list',
      '/v2/a/./b/tags/list',
      '/v2/a/%2e%2e/b/tags/list',
      '/v2/%2e%2e/tags/list',
      '/v2/a/%2E/b/tags/list',
    ]) {
      const before = await snapshot(t);
      const raw = await rawRequest(
        Number(port),
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      expect(raw).toMatch(/^HTTP\/1\.1 400/);
      expect(raw).toContain('NAME_INVALID');
      expect(await snapshot(t)).toBe(before);
    }
  });

  it('refuses tags outside the grammar', async () => {
    const image = await pushImage(app(), 'base/app', 'v3');
    for (const tag of ['-dash', '.dot', 'a'.repeat(129), 'caf%C3%A9', 'a%2Fb']) {
      await refuses(() => putManifest(app(), 'base/app', tag, image.manifest), 400, 'MANIFEST_INVALID');
    }
    await refuses(
      () => putManifest(app(), 'base/app', `${image.digest}?tag=-bad`, image.manifest),
      400,
      'MANIFEST_INVALID',
    );
  });

  it('reports a blob that vanished from storage as unknown, without a path', async () => {
    const digest = await pushBlob(app(), 'base/app', randomBytes(10));
    await t.server.registry.blobs.delete(digest);
    const res = await app().inject({ method: 'GET', url: `/v2/base/app/blobs/${digest}` });
    expect(res.statusCode).toBe(404);
    expect(errorCode(res)).toBe('BLOB_UNKNOWN');
    expect(res.body).not.toContain(t.dataDir);
  });
});

describe.each(testDialects())('registry with deletes disabled (%s)', (dialect) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(dialect, { registry: { deleteEnabled: false } });
  });
  afterAll(async () => t.dispose());

  it('refuses every delete with UNSUPPORTED and keeps the content', async () => {
    const image = await pushImage(t.server.app, 'keep/app', 'v1');
    const before = await snapshot(t);
    for (const url of [
      '/v2/keep/app/manifests/v1',
      `/v2/keep/app/manifests/${image.digest}`,
      `/v2/keep/app/blobs/${image.layerDigest}`,
    ]) {
      const res = await t.server.app.inject({ method: 'DELETE', url });
      expect(res.statusCode).toBe(405);
      expect(errorCode(res)).toBe('UNSUPPORTED');
    }
    expect(await snapshot(t)).toBe(before);
  });
});

function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}
