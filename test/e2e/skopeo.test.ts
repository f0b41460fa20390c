// skopeo against a real `palisade serve`: proves that the containers/image client stack — what
// skopeo, podman and buildah all use — can push (OCI and Docker formats, multi-arch with --all),
// inspect, list, pull back byte-identical, delete, and copy between repositories with
// cross-repository blob mounts. Runs on SQLite, and on PostgreSQL when PALISADE_TEST_DATABASE_URL is set.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALL_MANIFEST_TYPES,
  DOCKER_MANIFEST,
  OCI_INDEX,
  OCI_MANIFEST,
  TempDirs,
  buildOciLayout,
  checkConsistency,
  e2eDatabase,
  expectSuccess,
  probeCommand,
  registryHost,
  requestLog,
  sha256,
  skopeo,
  startServer,
  stopAllServers,
  testDialects,
  type E2eDatabase,
  type OciLayout,
  type RunningServer,
  writeAuthFile,
  authorizedFetch,
} from './harness.js';

const probe = await probeCommand('skopeo');

let token = '';
/** Direct HTTP checks of this suite carry the admin token skopeo also uses. */
const fetch = authorizedFetch(() => token);
if (!probe.available) {
  console.warn(`skopeo e2e tests are SKIPPED: ${probe.reason} (install skopeo to run them)`);
}

interface SkopeoInspect {
  Name: string;
  Digest: string;
  RepoTags: string[];
  Architecture: string;
  Os: string;
  Layers: string[];
}

interface RawManifest {
  mediaType: string;
  config?: { mediaType: string; digest: string };
  layers?: Array<{ mediaType: string; digest: string; size: number }>;
  manifests?: Array<{ mediaType: string; digest: string; platform?: { architecture: string } }>;
}

describe('skopeo is installed', () => {
  it.skipIf(!probe.available)(`skopeo can run here (${probe.reason})`, () => {
    expect(probe.available).toBe(true);
  });
});

describe.each(testDialects())('skopeo against palisade serve (%s)', (dialect) => {
  const temp = new TempDirs();
  let database: E2eDatabase | undefined;
  let server: RunningServer;
  let host: string;
  let image: OciLayout;
  let multi: OciLayout;

  beforeAll(async () => {
    if (!probe.available) return;
    database = await e2eDatabase(dialect);
    // Request logs at info level let the mount test see which uploads were mounts.
    server = await startServer({
      databaseUrl: database.databaseUrl,
      env: { PALISADE_LOG_LEVEL: 'info' },
      publicUrl: false,
    });
    host = registryHost(server);
    // skopeo runs the registry token flow with this access token as its password.
    token = await server.adminToken();
    process.env.REGISTRY_AUTH_FILE = writeAuthFile(temp.make(), host, token);
    image = await buildOciLayout(temp.make(), { tag: 'v1' });
    multi = await buildOciLayout(temp.make(), {
      tag: 'multi',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    });
  });

  afterAll(async () => {
    delete process.env.REGISTRY_AUTH_FILE;
    await stopAllServers();
    await database?.dispose();
    temp.removeAll();
  });

  const inspect = async (reference: string, extra: string[] = []): Promise<SkopeoInspect> => {
    const result = await skopeo(['inspect', '--tls-verify=false', ...extra, `docker://${reference}`]);
    return JSON.parse(expectSuccess(result, `skopeo inspect ${reference}`).stdout) as SkopeoInspect;
  };
  const inspectRaw = async (reference: string): Promise<{ raw: string; manifest: RawManifest }> => {
    const result = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reference}`]);
    const raw = expectSuccess(result, `skopeo inspect --raw ${reference}`).stdout;
    return { raw, manifest: JSON.parse(raw) as RawManifest };
  };
  const layoutBlob = (dir: string, digest: string): Buffer | undefined => {
    const path = join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
    return existsSync(path) ? readFileSync(path) : undefined;
  };

  it.skipIf(!probe.available)(
    'copies an OCI layout in OCI format; the manifest is stored byte for byte',
    async () => {
      expectSuccess(
        await skopeo([
          'copy',
          '--dest-tls-verify=false',
          `oci:${image.dir}:v1`,
          `docker://${host}/team/app:v1`,
        ]),
        'skopeo copy (OCI)',
      );
      const info = await inspect(`${host}/team/app:v1`);
      expect(info.Digest).toBe(image.digest);
      expect(info.Layers).toEqual(image.images[0]!.layerDigests);
      expect(info.Architecture).toBe('amd64');
      expect(info.Os).toBe('linux');
      expect(info.RepoTags).toContain('v1');

      const { raw, manifest } = await inspectRaw(`${host}/team/app:v1`);
      expect(manifest.mediaType).toBe(OCI_MANIFEST);
      expect(sha256(Buffer.from(raw))).toBe(image.digest);

      // The same image by digest, and the HTTP view agrees on type and digest.
      expect((await inspect(`${host}/team/app@${image.digest}`)).Digest).toBe(image.digest);
      const head = await fetch(`${server.url}/v2/team/app/manifests/v1`, {
        method: 'HEAD',
        headers: { Accept: ALL_MANIFEST_TYPES },
      });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-type')).toBe(OCI_MANIFEST);
      expect(head.headers.get('docker-content-digest')).toBe(image.digest);
    },
  );

  it.skipIf(!probe.available)('copies the same layout in Docker format (--format v2s2)', async () => {
    expectSuccess(
      await skopeo([
        'copy',
        '--dest-tls-verify=false',
        '--format',
        'v2s2',
        `oci:${image.dir}:v1`,
        `docker://${host}/team/app:v1-docker`,
      ]),
      'skopeo copy --format v2s2',
    );
    const { raw, manifest } = await inspectRaw(`${host}/team/app:v1-docker`);
    expect(manifest.mediaType).toBe(DOCKER_MANIFEST);
    expect(manifest.config?.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(manifest.layers?.map((l) => l.mediaType)).toEqual([
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
    ]);
    // Compressed layers are reused as they are: same digests as the OCI copy.
    expect(manifest.layers?.map((l) => l.digest)).toEqual(image.images[0]!.layerDigests);
    const info = await inspect(`${host}/team/app:v1-docker`);
    expect(info.Digest).toBe(sha256(Buffer.from(raw)));
    expect(info.Digest).not.toBe(image.digest);
    expect(info.Layers).toEqual(image.images[0]!.layerDigests);
  });

  it.skipIf(!probe.available)('lists tags', async () => {
    const result = expectSuccess(
      await skopeo(['list-tags', '--tls-verify=false', `docker://${host}/team/app`]),
      'skopeo list-tags',
    );
    const listed = JSON.parse(result.stdout) as { Repository: string; Tags: string[] };
    expect(listed.Repository).toBe(`${host}/team/app`);
    expect([...listed.Tags].sort()).toEqual(['v1', 'v1-docker']);
  });

  it.skipIf(!probe.available)('pulls back into a fresh OCI layout with byte-identical blobs', async () => {
    const out = temp.make();
    expectSuccess(
      await skopeo(['copy', '--src-tls-verify=false', `docker://${host}/team/app:v1`, `oci:${out}:v1`]),
      'skopeo copy back (OCI)',
    );
    for (const [digest, bytes] of image.blobs) {
      expect(layoutBlob(out, digest), `blob ${digest} pulled back`).toEqual(bytes);
    }
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as RawManifest;
    expect(index.manifests?.map((m) => m.digest)).toEqual([image.digest]);

    // The Docker-format copy comes back converted to OCI, with the very same layers.
    const outDocker = temp.make();
    expectSuccess(
      await skopeo([
        'copy',
        '--src-tls-verify=false',
        `docker://${host}/team/app:v1-docker`,
        `oci:${outDocker}:v1`,
      ]),
      'skopeo copy back (Docker format)',
    );
    for (const digest of image.images[0]!.layerDigests) {
      expect(layoutBlob(outDocker, digest), `layer ${digest} pulled back`).toEqual(image.blobs.get(digest));
    }
  });

  it.skipIf(!probe.available)(
    'pushes a multi-arch index with --all and pulls it back with --all',
    async () => {
      expectSuccess(
        await skopeo([
          'copy',
          '--all',
          '--dest-tls-verify=false',
          `oci:${multi.dir}:multi`,
          `docker://${host}/team/multi:v1`,
        ]),
        'skopeo copy --all',
      );
      const { raw, manifest } = await inspectRaw(`${host}/team/multi:v1`);
      expect(manifest.mediaType).toBe(OCI_INDEX);
      expect(sha256(Buffer.from(raw))).toBe(multi.digest);
      expect(manifest.manifests?.map((m) => m.digest)).toEqual(multi.images.map((i) => i.manifestDigest));

      // Each platform resolves to its own image.
      const arm = await inspect(`${host}/team/multi:v1`, [
        '--override-arch',
        'arm64',
        '--override-variant',
        'v8',
      ]);
      expect(arm.Architecture).toBe('arm64');
      expect(arm.Layers).toEqual(multi.images[1]!.layerDigests);
      const amd = await inspect(`${host}/team/multi:v1`, ['--override-arch', 'amd64']);
      expect(amd.Layers).toEqual(multi.images[0]!.layerDigests);

      const out = temp.make();
      expectSuccess(
        await skopeo([
          'copy',
          '--all',
          '--src-tls-verify=false',
          `docker://${host}/team/multi:v1`,
          `oci:${out}:multi`,
        ]),
        'skopeo copy --all back',
      );
      for (const [digest, bytes] of multi.blobs) {
        expect(layoutBlob(out, digest), `blob ${digest} pulled back`).toEqual(bytes);
      }
    },
  );

  it.skipIf(!probe.available)(
    'copies between repositories of the same server by mounting blobs',
    async () => {
      const before = requestLog(server.stdout()).length;
      expectSuccess(
        await skopeo([
          'copy',
          '--src-tls-verify=false',
          '--dest-tls-verify=false',
          `docker://${host}/team/app:v1`,
          `docker://${host}/other/app:v1`,
        ]),
        'skopeo copy between repositories',
      );
      const info = await inspect(`${host}/other/app:v1`);
      expect(info.Digest).toBe(image.digest);

      // Every layer arrived as a cross-repository mount (201 to POST ?mount=…&from=team/app), not as bytes.
      const requests = requestLog(server.stdout()).slice(before);
      for (const layer of image.images[0]!.layerDigests) {
        const mount = requests.find(
          (r) =>
            r.method === 'POST' &&
            r.url.startsWith('/v2/other/app/blobs/uploads/') &&
            new URLSearchParams(r.url.split('?')[1] ?? '').get('mount') === layer,
        );
        expect(mount, `mount request for ${layer}`).toBeDefined();
        expect(new URLSearchParams(mount!.url.split('?')[1] ?? '').get('from')).toBe('team/app');
        expect(mount!.status).toBe(201);
      }
      const patched = requests.filter((r) => r.method === 'PATCH' && r.url.startsWith('/v2/other/app/'));
      expect(patched.length).toBeLessThanOrEqual(1); // at most the config blob is sent again

      const blob = await fetch(`${server.url}/v2/other/app/blobs/${image.images[0]!.layerDigests[0]!}`);
      expect(blob.status).toBe(200);
      expect(Buffer.from(await blob.arrayBuffer())).toEqual(
        image.blobs.get(image.images[0]!.layerDigests[0]!),
      );
    },
  );

  it.skipIf(!probe.available)('deletes a manifest; inspecting it then fails, other tags stay', async () => {
    expectSuccess(
      await skopeo(['delete', '--tls-verify=false', `docker://${host}/team/app:v1-docker`]),
      'skopeo delete',
    );
    const gone = await skopeo(['inspect', '--tls-verify=false', `docker://${host}/team/app:v1-docker`]);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/manifest unknown/i);

    const tags = JSON.parse(
      expectSuccess(
        await skopeo(['list-tags', '--tls-verify=false', `docker://${host}/team/app`]),
        'list-tags',
      ).stdout,
    ) as { Tags: string[] };
    expect(tags.Tags).toEqual(['v1']);
    expect((await inspect(`${host}/team/app:v1`)).Digest).toBe(image.digest);
  });

  it.skipIf(!probe.available)('leaves a registry where every tag resolves to whole content', async () => {
    const report = await checkConsistency(server.url, fetch);
    expect(report.problems).toEqual([]);
    expect([...report.tags.keys()].sort()).toEqual(['other/app:v1', 'team/app:v1', 'team/multi:v1']);
    expect(report.blobsChecked).toBeGreaterThanOrEqual(9);
  });
});
