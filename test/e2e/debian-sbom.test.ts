// A real Debian image, built from Debian's own packages (debootstrap --variant=minbase into a
// temporary root, tarred into one layer), pushed with skopeo to a real `palisade serve`. The SBOM
// Palisade attaches must list exactly what `dpkg-query` reports for that same root — names,
// versions, architectures and source packages — and `palisade scan` must turn an OSV record for
// one of its source packages into a finding that fails the CI gate. Needs root, debootstrap,
// skopeo and Debian's mirror (CI installs and reaches them).
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TempDirs,
  expectSuccess,
  probeCommand,
  registryHost,
  run,
  runCli,
  sha256,
  skopeo,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
} from './harness.js';

const temp = new TempDirs();
const debootstrap = await probeCommand('debootstrap');
const skopeoProbe = await probeCommand('skopeo');
const isRoot = process.getuid?.() === 0;
const available = debootstrap.available && skopeoProbe.available && isRoot;
if (!available) {
  console.warn(
    `Debian SBOM e2e test is SKIPPED: ${!isRoot ? 'debootstrap needs root' : !debootstrap.available ? debootstrap.reason : skopeoProbe.reason}`,
  );
}
const MIRROR = process.env.PALISADE_TEST_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

interface DpkgPackage {
  name: string;
  version: string;
  arch: string;
  source: string;
  sourceVersion: string;
}

interface SpdxPackage {
  name: string;
  versionInfo?: string;
  externalRefs?: { referenceType: string; referenceLocator: string }[];
}

/** Writes a one-layer OCI image layout around the gzipped root file system. */
function writeLayout(dir: string, layer: Buffer, diffId: string): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (data: Buffer) => {
    const digest = sha256(data);
    writeFileSync(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
    return { digest, size: data.length };
  };
  const config = put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [diffId] },
        config: {},
      }),
    ),
  );
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(layer) }],
      }),
    ),
  );
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'bookworm' },
        },
      ],
    }),
  );
}

describe.skipIf(!available)('a Debian image built with debootstrap', () => {
  let server: RunningServer;
  let token = '';
  let root = '';
  let installed: DpkgPackage[] = [];
  const cli = (args: string[]) =>
    runCli(
      [...args, '--server', server.url],
      { XDG_CONFIG_HOME: temp.make(), PALISADE_TOKEN: token },
      120_000,
    );

  beforeAll(async () => {
    const work = temp.make();
    root = join(work, 'root');
    expectSuccess(
      await run('debootstrap', ['--variant=minbase', 'bookworm', root, MIRROR], { timeoutMs: 600_000 }),
      'debootstrap',
    );
    const query = expectSuccess(
      await run('dpkg-query', [
        `--admindir=${join(root, 'var/lib/dpkg')}`,
        '-W',
        '-f',
        '${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${db:Status-Abbrev}\n',
      ]),
      'dpkg-query',
    );
    installed = query.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('\t'))
      .filter((f) => f[5]?.startsWith('ii'))
      .map(([name, version, arch, source, sourceVersion]) => ({
        name: name!,
        version: version!,
        arch: arch!,
        source: source!,
        sourceVersion: sourceVersion!,
      }));
    const tar = expectSuccess(
      await run('tar', ['-C', root, '--numeric-owner', '-cf', join(work, 'layer.tar'), '.'], {
        timeoutMs: 300_000,
      }),
      'tar',
    );
    expect(tar.code).toBe(0);
    const { readFileSync } = await import('node:fs');
    const tarBytes = readFileSync(join(work, 'layer.tar'));
    writeLayout(join(work, 'layout'), gzipSync(tarBytes, { level: 1 }), sha256(tarBytes));

    server = await startServer({ args: ['--dev'], publicUrl: false });
    token = await server.adminToken();
    expectSuccess(
      await skopeo(
        [
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          `palisade:${token}`,
          `oci:${join(work, 'layout')}:bookworm`,
          `docker://${registryHost(server)}/acme/debian:bookworm`,
        ],
        300_000,
      ),
      'skopeo copy of the Debian image',
    );
  }, 900_000);
  afterAll(async () => {
    await stopAllServers();
    temp.removeAll();
  });

  it('the SBOM lists exactly the packages dpkg-query reports for the same root', async () => {
    expect(installed.length).toBeGreaterThan(50);
    const result = expectSuccess(
      await cli(['sbom', 'acme/debian:bookworm', '--wait', '5m']),
      'palisade sbom',
    );
    const document = JSON.parse(result.stdout) as { spdxVersion: string; packages: SpdxPackage[] };
    expect(document.spdxVersion).toBe('SPDX-2.3');
    const purls = document.packages
      .flatMap((p) => p.externalRefs ?? [])
      .filter((r) => r.referenceType === 'purl' && r.referenceLocator.startsWith('pkg:deb/'))
      .map((r) => r.referenceLocator);
    expect(purls).toHaveLength(installed.length);
    for (const pkg of installed) {
      const expected = purls.find((p) => p.startsWith(`pkg:deb/debian/${encodeURIComponent(pkg.name)}@`));
      expect(expected, pkg.name).toBeDefined();
      const purl = decodeURIComponent(expected!);
      expect(purl, pkg.name).toContain(`@${pkg.version}?`);
      expect(purl, pkg.name).toContain(`arch=${pkg.arch}`);
      expect(purl, pkg.name).toContain('distro=debian-12');
      if (pkg.source !== pkg.name || pkg.sourceVersion !== pkg.version) {
        const upstream =
          pkg.sourceVersion !== pkg.version ? `${pkg.source}@${pkg.sourceVersion}` : pkg.source;
        expect(purl, pkg.name).toContain(`upstream=${upstream}`);
      }
    }
  });

  it('an OSV record for one of its source packages becomes a finding that fails the CI gate', async () => {
    const glibc = installed.find((p) => p.name === 'libc6')!;
    const recordFile = join(temp.make(), 'DSA-TEST-0001.json');
    writeFileSync(
      recordFile,
      JSON.stringify({
        id: 'DEBIAN-CVE-2099-0001',
        modified: '2099-01-01T00:00:00Z',
        aliases: ['CVE-2099-0001'],
        summary: 'test record for the installed glibc',
        affected: [
          {
            package: { ecosystem: 'Debian:12', name: glibc.source },
            ranges: [
              { type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: `${glibc.sourceVersion}+test1` }] },
            ],
          },
        ],
        severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N' }],
      }),
    );
    const imported = await runCli(
      ['vulndb', 'import', recordFile, '--output', 'json', '--data-dir', server.dataDir],
      server.env,
      120_000,
    );
    expectSuccess(imported, 'palisade vulndb import');
    expect(JSON.parse(imported.stdout)).toMatchObject({ inserted: 1, imagesQueued: 1 });
    const report = await waitFor(
      'the re-evaluation after the import',
      async () => {
        const res = await cli(['scan', 'acme/debian:bookworm', '--output', 'json']);
        const body = JSON.parse(res.stdout) as { findings: { id: string; package: { name: string } }[] };
        return body.findings.length > 0 ? body : undefined;
      },
      60_000,
      500,
    );
    expect(report.findings.map((f) => f.id)).toEqual(
      installed.filter((p) => p.source === glibc.source).map(() => 'CVE-2099-0001'),
    );
    const gate = await cli(['scan', 'acme/debian:bookworm', '--fail-on', 'high']);
    expect(gate.code).toBe(1);
    expect(gate.stderr).toContain('at or above high');
    expect(gate.stdout).toContain('CVE-2099-0001');
    const lenient = await cli(['scan', 'acme/debian:bookworm', '--fail-on', 'critical']);
    expect(lenient.code, lenient.stderr).toBe(0);
  });
});
