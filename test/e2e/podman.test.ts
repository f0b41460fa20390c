// podman against a real `palisade serve`: push in OCI and Docker formats, pull back, build-and-push,
// manifest lists and search, each checked both through podman and through the registry's HTTP API
// (layers decompress to the diff_ids the config promises). podman runs on a private vfs store in a
// temporary directory, so nothing touches the machine's own images. When podman cannot work here
// (not installed, or no usable storage in a sandbox), the probe test below says why and the rest
// are skipped — visibly, never silently.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
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
  run,
  sha256,
  startServer,
  stopAllServers,
  testDialects,
  type CommandResult,
  type E2eDatabase,
  type OciLayout,
  type RunningServer,
  authorizedFetch,
  writeAuthFile,
} from './harness.js';

interface Manifest {
  mediaType: string;
  config: { mediaType: string; digest: string };
  layers: Array<{ mediaType: string; digest: string }>;
}

interface Index {
  mediaType: string;
  manifests: Array<{ digest: string; platform?: { architecture: string } }>;
}

const temp = new TempDirs();
afterAll(() => temp.removeAll());

let token = '';
/** Direct HTTP checks of this suite carry the admin token podman also uses. */
const fetch = authorizedFetch(() => token);

/** podman on its own store under `root`, so tests neither see nor change the machine's images. */
function podmanIn(root: string) {
  const base = [
    '--root',
    join(root, 'storage'),
    '--runroot',
    join(root, 'run'),
    '--storage-driver',
    'vfs',
    '--cgroup-manager',
    'cgroupfs',
  ];
  return (args: string[], timeoutMs = 120_000): Promise<CommandResult> =>
    run('podman', [...base, ...args], { timeoutMs });
}

interface PodmanProbe {
  available: boolean;
  reason: string;
}

/** podman is usable when it runs, opens a private store and can import an OCI layout. */
async function probePodman(): Promise<PodmanProbe> {
  const version = await probeCommand('podman');
  if (!version.available) return version;
  // Cleaned up here: when the probe fails every test is skipped, and afterAll hooks do not run.
  const probeDirs = new TempDirs();
  try {
    const podman = podmanIn(probeDirs.make('palisade-e2e-podman-probe-'));
    const info = await podman(['info', '--format', '{{.Store.GraphDriverName}}']);
    if (info.code !== 0) {
      return { available: false, reason: `podman info failed (${String(info.code)}): ${info.stderr.trim()}` };
    }
    const layout = await buildOciLayout(probeDirs.make(), { tag: 'v1' });
    const pulled = await podman(['pull', '-q', `oci:${layout.dir}:v1`]);
    if (pulled.code !== 0) {
      return { available: false, reason: `podman pull oci:<layout> failed: ${pulled.stderr.trim()}` };
    }
    return { available: true, reason: `${version.reason}, ${info.stdout.trim()} storage` };
  } finally {
    probeDirs.removeAll();
  }
}

const probe = await probePodman();
if (!probe.available) {
  console.warn(`podman e2e tests are SKIPPED: podman is not usable here — ${probe.reason}`);
}

describe('podman is usable in this environment', () => {
  it.skipIf(!probe.available)(
    `podman runs with a private store and imports an OCI layout (${probe.reason})`,
    () => {
      expect(probe.available).toBe(true);
    },
  );
});

describe.each(testDialects())('podman against palisade serve (%s)', (dialect) => {
  let database: E2eDatabase | undefined;
  let server: RunningServer;
  let host: string;
  let layout: OciLayout;
  let podman: ReturnType<typeof podmanIn>;
  const pushed = new Map<string, string>(); // tag → manifest digest

  beforeAll(async () => {
    if (!probe.available) return;
    database = await e2eDatabase(dialect);
    server = await startServer({ databaseUrl: database.databaseUrl, publicUrl: false });
    host = registryHost(server);
    // podman runs the registry token flow with this access token as its password.
    token = await server.adminToken();
    process.env.REGISTRY_AUTH_FILE = writeAuthFile(temp.make(), host, token);
    podman = podmanIn(temp.make('palisade-e2e-podman-'));
    layout = await buildOciLayout(temp.make(), { tag: 'v1' });
    const id = expectSuccess(
      await podman(['pull', '-q', `oci:${layout.dir}:v1`]),
      'podman pull oci:',
    ).stdout.trim();
    expectSuccess(await podman(['tag', id, 'localhost/e2e/app:v1']), 'podman tag');
  });

  afterAll(async () => {
    delete process.env.REGISTRY_AUTH_FILE;
    await stopAllServers();
    await database?.dispose();
  });

  const getJson = async <T>(
    path: string,
    accept = ALL_MANIFEST_TYPES,
  ): Promise<{ body: T; digest: string }> => {
    const response = await fetch(`${server.url}${path}`, { headers: { Accept: accept } });
    expect(response.status, `GET ${path}`).toBe(200);
    const bytes = Buffer.from(await response.arrayBuffer());
    return {
      body: JSON.parse(bytes.toString('utf8')) as T,
      digest: response.headers.get('docker-content-digest') ?? '',
    };
  };
  const getBlob = async (repository: string, digest: string): Promise<Buffer> => {
    const response = await fetch(`${server.url}/v2/${repository}/blobs/${digest}`);
    expect(response.status, `GET blob ${digest}`).toBe(200);
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(sha256(bytes)).toBe(digest);
    return bytes;
  };
  /** Layers as stored decompress to exactly the diff_ids their config lists. */
  const expectLayersMatchConfig = async (repository: string, manifest: Manifest): Promise<string[]> => {
    const config = JSON.parse((await getBlob(repository, manifest.config.digest)).toString('utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    const diffIds: string[] = [];
    for (const layer of manifest.layers)
      diffIds.push(sha256(gunzipSync(await getBlob(repository, layer.digest))));
    expect(diffIds).toEqual(config.rootfs.diff_ids);
    return diffIds;
  };

  it.skipIf(!probe.available)(
    'pushes in OCI format: config kept, layers decompress to the same diff_ids',
    async () => {
      expectSuccess(
        await podman([
          'push',
          '--tls-verify=false',
          '--format',
          'oci',
          'localhost/e2e/app:v1',
          `${host}/team/podman:oci`,
        ]),
        'podman push --format oci',
      );
      const { body, digest } = await getJson<Manifest>('/v2/team/podman/manifests/oci');
      expect(body.mediaType).toBe(OCI_MANIFEST);
      expect(body.config.digest).toBe(layout.images[0]!.configDigest);
      expect(await expectLayersMatchConfig('team/podman', body)).toEqual(layout.images[0]!.diffIds);
      pushed.set('oci', digest);
    },
  );

  it.skipIf(!probe.available)('pushes in Docker format (--format v2s2)', async () => {
    expectSuccess(
      await podman([
        'push',
        '--tls-verify=false',
        '--format',
        'v2s2',
        'localhost/e2e/app:v1',
        `${host}/team/podman:docker`,
      ]),
      'podman push --format v2s2',
    );
    const { body, digest } = await getJson<Manifest>('/v2/team/podman/manifests/docker');
    expect(body.mediaType).toBe(DOCKER_MANIFEST);
    expect(body.layers.map((l) => l.mediaType)).toEqual(
      layout.images[0]!.layerDigests.map(() => 'application/vnd.docker.image.rootfs.diff.tar.gzip'),
    );
    expect(await expectLayersMatchConfig('team/podman', body)).toEqual(layout.images[0]!.diffIds);
    pushed.set('docker', digest);
  });

  it.skipIf(!probe.available)('pulls both back into an empty store with the pushed digests', async () => {
    const fresh = podmanIn(temp.make('palisade-e2e-podman-pull-'));
    for (const [tag, digest] of pushed) {
      expectSuccess(
        await fresh(['pull', '-q', '--tls-verify=false', `${host}/team/podman:${tag}`]),
        `podman pull :${tag}`,
      );
      const inspected = expectSuccess(
        await fresh(['image', 'inspect', '--format', '{{json .RepoDigests}}', `${host}/team/podman:${tag}`]),
        'podman image inspect',
      );
      expect(JSON.parse(inspected.stdout) as string[]).toContain(`${host}/team/podman@${digest}`);
    }
    // The OCI push kept the config, so the pulled image is the very image that was pushed.
    const id = expectSuccess(
      await fresh(['image', 'inspect', '--format', '{{.Id}}', `${host}/team/podman:oci`]),
      'podman image inspect',
    );
    expect(`sha256:${id.stdout.trim()}`).toBe(layout.images[0]!.configDigest);
    // And by digest.
    expectSuccess(
      await fresh(['pull', '-q', '--tls-verify=false', `${host}/team/podman@${pushed.get('oci')!}`]),
      'podman pull by digest',
    );
  });

  it.skipIf(!probe.available)(
    'builds an image and pushes it; the registry serves the built file',
    async () => {
      const context = temp.make('palisade-e2e-build-');
      mkdirSync(join(context, 'site'));
      const content = `built by podman for palisade e2e ${dialect} ${Date.now()}\n`;
      writeFileSync(join(context, 'site', 'index.html'), content);
      writeFileSync(join(context, 'Containerfile'), 'FROM scratch\nCOPY site /site\nLABEL e2e=palisade\n');
      expectSuccess(await podman(['build', '-q', '-t', 'localhost/e2e/built:v1', context]), 'podman build');
      expectSuccess(
        await podman(['push', '--tls-verify=false', 'localhost/e2e/built:v1', `${host}/team/built:v1`]),
        'podman push built',
      );
      const { body } = await getJson<Manifest>('/v2/team/built/manifests/v1');
      expect(body.layers).toHaveLength(1);
      const layer = await getBlob('team/built', body.layers[0]!.digest);
      const extracted = execFileSync('tar', ['-xzO', '-f', '-', 'site/index.html'], { input: layer });
      expect(extracted.toString('utf8')).toBe(content);
      await expectLayersMatchConfig('team/built', body);
    },
  );

  it.skipIf(!probe.available)('pushes a manifest list with `podman manifest push --all`', async () => {
    expectSuccess(await podman(['manifest', 'create', 'localhost/e2e/list']), 'podman manifest create');
    expectSuccess(
      await podman([
        'manifest',
        'add',
        '--arch',
        'amd64',
        'localhost/e2e/list',
        'containers-storage:localhost/e2e/app:v1',
      ]),
      'podman manifest add (amd64)',
    );
    expectSuccess(
      await podman([
        'manifest',
        'add',
        '--arch',
        'arm64',
        'localhost/e2e/list',
        'containers-storage:localhost/e2e/built:v1',
      ]),
      'podman manifest add (arm64)',
    );
    expectSuccess(
      await podman([
        'manifest',
        'push',
        '--all',
        '--tls-verify=false',
        'localhost/e2e/list',
        `docker://${host}/team/list:v1`,
      ]),
      'podman manifest push --all',
    );
    const { body } = await getJson<Index>('/v2/team/list/manifests/v1');
    expect([OCI_INDEX, 'application/vnd.docker.distribution.manifest.list.v2+json']).toContain(
      body.mediaType,
    );
    expect(body.manifests.map((m) => m.platform?.architecture).sort()).toEqual(['amd64', 'arm64']);
    const configs = new Map<string, string>(); // architecture → config digest
    for (const child of body.manifests) {
      const { body: manifest } = await getJson<Manifest>(`/v2/team/list/manifests/${child.digest}`);
      await expectLayersMatchConfig('team/list', manifest);
      configs.set(child.platform?.architecture ?? '', manifest.config.digest);
    }
    // podman picks the platform's entry from the list when pulling.
    const fresh = podmanIn(temp.make('palisade-e2e-podman-list-'));
    expectSuccess(
      await fresh(['pull', '-q', '--tls-verify=false', '--arch', 'arm64', `${host}/team/list:v1`]),
      'podman pull --arch arm64',
    );
    const id = expectSuccess(
      await fresh(['image', 'inspect', '--format', '{{.Id}}', `${host}/team/list:v1`]),
      'podman image inspect',
    );
    expect(`sha256:${id.stdout.trim()}`).toBe(configs.get('arm64'));
  });

  it.skipIf(!probe.available)('finds repositories and tags with podman search', async () => {
    const repos = expectSuccess(
      await podman(['search', '--tls-verify=false', '--format', '{{.Name}}', `${host}/`]),
      'podman search',
    );
    expect(repos.stdout.trim().split('\n').sort()).toEqual(
      ['team/built', 'team/list', 'team/podman'].map((r) => `${host}/${r}`),
    );
    // podman 4 prints a NAME/TAG table for --list-tags whatever --format says: take the TAG column.
    const tags = expectSuccess(
      await podman(['search', '--tls-verify=false', '--list-tags', `${host}/team/podman`]),
      'podman search --list-tags',
    );
    const rows = tags.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/));
    expect(rows.map((row) => row[0])).toEqual([`${host}/team/podman`, `${host}/team/podman`]);
    expect(rows.map((row) => row[1]).sort()).toEqual(['docker', 'oci']);
  });

  it.skipIf(!probe.available)('leaves every tag resolving to whole content', async () => {
    const report = await checkConsistency(server.url, fetch);
    expect(report.problems).toEqual([]);
    expect(report.tags.size).toBe(4);
  });
});
