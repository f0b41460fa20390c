// Scanning end to end through the HTTP edge, on both databases: a push queues a durable analysis;
// the analysis attaches SPDX and CycloneDX SBOMs as referrers; an OSV import re-evaluates images
// from their stored inventories (no layer is read again) with exact version rules; findings that
// appear or disappear are events; SBOMs pushed by users count; hostile layers fail with a reason
// and leave the server healthy; bad requests get clear errors.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { digestOf } from '../lib/digest.js';
import { MediaTypes } from '../registry/manifest.js';
import { imageManifest, pushBlob, putManifest } from '../registry/test-helpers.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { tarOf, type LayerEntry } from './layers/test-layers.js';
import type { ImageReport } from './service.js';
import { openRecordSource } from './vulndb/record-sources.js';

const APK_DB = `P:busybox
V:1.36.1-r15
A:x86_64
o:busybox
L:GPL-2.0-only
F:bin
R:busybox

P:ssl_client
V:1.36.1-r15
A:x86_64
o:busybox
L:GPL-2.0-only

P:zlib
V:1.3.1-r0
A:x86_64
o:zlib
L:Zlib

`;

const OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n';

function osv(id: string, extra: Record<string, unknown>): Record<string, unknown> {
  return { schema_version: '1.6.0', id, modified: '2026-01-01T00:00:00Z', ...extra };
}

const range = (...events: Record<string, string>[]) => [{ type: 'ECOSYSTEM', events }];

/** OSV records written for this test: which apply is decided by the version rules alone. */
const RECORDS = [
  // busybox 1.36.1-r15 < r16: affected.
  osv('ALPINE-CVE-2026-0001', {
    aliases: ['CVE-2026-0001'],
    summary: 'busybox overflow',
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
    affected: [
      {
        package: { ecosystem: 'Alpine:v3.19', name: 'busybox' },
        ranges: range({ introduced: '0' }, { fixed: '1.36.1-r16' }),
      },
    ],
  }),
  // Fixed in r2, installed r15: not affected (text comparison would say "r15" < "r2").
  osv('ALPINE-CVE-2026-0002', {
    affected: [
      {
        package: { ecosystem: 'Alpine:v3.19', name: 'busybox' },
        ranges: range({ introduced: '0' }, { fixed: '1.36.1-r2' }),
      },
    ],
  }),
  // Another release's record: not this image's ecosystem.
  osv('ALPINE-CVE-2026-0003', {
    affected: [{ package: { ecosystem: 'Alpine:v3.18', name: 'zlib' }, ranges: range({ introduced: '0' }) }],
  }),
  // Withdrawn: never matches.
  osv('ALPINE-CVE-2026-0004', {
    withdrawn: '2026-01-02T00:00:00Z',
    affected: [{ package: { ecosystem: 'Alpine:v3.19', name: 'zlib' }, ranges: range({ introduced: '0' }) }],
  }),
  // npm: a GHSA and its CVE are one finding.
  osv('GHSA-aaaa-bbbb-cccc', {
    aliases: ['CVE-2026-1000'],
    summary: 'prototype pollution in lodash',
    database_specific: { severity: 'HIGH' },
    affected: [
      {
        package: { ecosystem: 'npm', name: 'lodash' },
        ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '4.17.21' }] }],
      },
    ],
  }),
  osv('CVE-2026-1000', {
    affected: [{ package: { ecosystem: 'npm', name: 'lodash' }, versions: ['4.17.20'] }],
  }),
  // A pre-release that SemVer orders below 4.17.20: not affected.
  osv('GHSA-dddd-eeee-ffff', {
    affected: [
      {
        package: { ecosystem: 'npm', name: 'lodash' },
        ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '4.17.20-beta.1' }] }],
      },
    ],
  }),
];

describe.each(testDialects())('scanning (%s)', (dialect) => {
  let t: TestServer;
  let dir: string;
  const app = () => t.server.app;

  beforeAll(async () => {
    t = await startTestServer(dialect, {}, { manualJobs: true });
    dir = mkdtempSync(join(tmpdir(), 'palisade-osv-'));
  });
  afterAll(async () => {
    await t.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function pushLayers(repo: string, tag: string, layers: Buffer[]): Promise<string> {
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' } }),
    );
    const configDigest = await pushBlob(app(), repo, config);
    const descriptors = [];
    for (const layer of layers)
      descriptors.push({ digest: await pushBlob(app(), repo, layer), size: layer.length });
    const manifest = imageManifest({ digest: configDigest, size: config.length }, descriptors);
    const res = await putManifest(app(), repo, tag, manifest);
    expect(res.statusCode, res.body).toBe(201);
    return digestOf(manifest);
  }

  const gz = async (entries: LayerEntry[]) => gzipSync(await tarOf(entries));

  async function report(repo: string, reference: string): Promise<ImageReport> {
    const res = await app().inject({
      url: `/api/v1/repositories/${repo}/manifests/${reference}/vulnerabilities`,
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<ImageReport>();
  }

  async function importRecords(name: string, records: Record<string, unknown>[]) {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(records));
    return t.server.vulndb.import(name, await openRecordSource(path));
  }

  async function eventsOf(type: string, subject: string) {
    const res = await app().inject({
      url: `/api/v1/events?type=${type}&subject=${encodeURIComponent(subject)}`,
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ events: { data: { body: Record<string, unknown>; actor: { subject: string } } }[] }>()
      .events;
  }

  let alpine: string;

  it('a push queues an analysis that attaches SPDX and CycloneDX SBOMs as referrers', async () => {
    alpine = await pushLayers('acme/alpine', '3.19', [
      await gz([
        { path: 'etc/os-release', content: OS_RELEASE },
        { path: 'lib/apk/db/installed', content: APK_DB },
        {
          path: 'usr/lib/node_modules/lodash/package.json',
          content: '{"name":"lodash","version":"4.17.19"}',
        },
      ]),
      await gz([
        {
          path: 'usr/lib/node_modules/lodash/package.json',
          content: '{"name":"lodash","version":"4.17.20","license":"MIT"}',
        },
      ]),
    ]);
    expect((await report('acme/alpine', alpine)).analysis.status).toBe('queued');
    const run = await t.server.jobs.runUntilIdle();
    expect(run).toMatchObject({ failed: 0 });
    const done = await report('acme/alpine', '3.19');
    expect(done.analysis).toMatchObject({
      status: 'done',
      packages: 4,
      distro: { id: 'alpine', versionId: '3.19.1' },
    });
    expect(done.noKnownVulnerabilities).toBe(true);

    const referrers = await app().inject({ url: `/v2/acme/alpine/referrers/${alpine}` });
    const types = referrers
      .json<{ manifests: { artifactType: string }[] }>()
      .manifests.map((m) => m.artifactType);
    expect(types.sort()).toEqual(['application/spdx+json', 'application/vnd.cyclonedx+json']);

    const spdx = await app().inject({
      url: `/api/v1/repositories/acme/alpine/manifests/3.19/sbom?format=spdx`,
    });
    expect(spdx.statusCode).toBe(200);
    expect(spdx.headers['content-type']).toContain('application/spdx+json');
    const purls = JSON.stringify(spdx.json());
    expect(purls).toContain('pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64');
    expect(purls).toContain('pkg:npm/lodash@4.17.20');
    expect(purls).not.toContain('lodash@4.17.19');
    const cdx = await app().inject({
      url: `/api/v1/repositories/acme/alpine/manifests/${alpine}/sbom?format=cyclonedx`,
    });
    expect(cdx.json<{ bomFormat: string; specVersion: string }>()).toMatchObject({
      bomFormat: 'CycloneDX',
      specVersion: '1.5',
    });

    // Pushing the same manifest again (a re-tag) does not analyse it again.
    const again = await app().inject({
      url: `/v2/acme/alpine/manifests/${alpine}`,
      headers: { accept: MediaTypes.ociManifest },
    });
    expect((await putManifest(app(), 'acme/alpine', 'also-3.19', again.rawPayload)).statusCode).toBe(201);
    expect(await t.server.jobs.runUntilIdle()).toMatchObject({ ran: 0 });
    const [completed] = await eventsOf(
      'dev.palisade.scanning.analysis.completed.v1',
      `acme/alpine@${alpine}`,
    );
    expect(completed?.data.body).toMatchObject({ packages: 4, by_type: { apk: 3, npm: 1 } });
    expect(completed?.data.actor.subject).toBe('system:palisade');
  });

  it('an OSV import re-evaluates stored inventories with exact version rules, and records what appeared', async () => {
    const result = await importRecords('first.json', RECORDS);
    expect(result).toMatchObject({ read: 7, inserted: 7, invalid: 0, withdrawn: 1, imagesQueued: 1 });
    const run = await t.server.jobs.runUntilIdle();
    expect(run).toMatchObject({ ran: 1, failed: 0 });
    const after = await report('acme/alpine', alpine);
    expect(after.noKnownVulnerabilities).toBe(false);
    const found = after.findings.map(
      (f) => `${f.id} ${f.package.name}@${f.package.version} fixed=${f.fixedVersion ?? '-'}`,
    );
    expect(found.sort()).toEqual([
      'CVE-2026-0001 busybox@1.36.1-r15 fixed=1.36.1-r16',
      'CVE-2026-0001 ssl_client@1.36.1-r15 fixed=1.36.1-r16',
      'CVE-2026-1000 lodash@4.17.20 fixed=4.17.21',
    ]);
    const lodash = after.findings.find((f) => f.package.name === 'lodash')!;
    expect(lodash.ids).toEqual(['CVE-2026-1000', 'GHSA-aaaa-bbbb-cccc']);
    expect(lodash.severity).toBe('high');
    const busybox = after.findings.find((f) => f.package.name === 'busybox')!;
    expect(busybox).toMatchObject({ severity: 'critical', score: 9.8, summary: 'busybox overflow' });
    expect(after.summary).toMatchObject({ critical: 2, high: 1, total: 3 });

    const changed = await eventsOf('dev.palisade.scanning.findings.changed.v1', `acme/alpine@${alpine}`);
    expect(changed).toHaveLength(1);
    expect(changed[0]?.data.body).toMatchObject({ appeared_count: 3, resolved_count: 0 });
  });

  it('a record whose id cannot be stored is refused with a clear error, and nothing of it is kept', async () => {
    const long = osv(`ALPINE-${'9'.repeat(120)}`, { affected: [] });
    const result = await importRecords('long.json', [long]);
    expect(result).toMatchObject({ read: 1, inserted: 0, invalid: 1 });
    expect(result.errors[0]).toContain('an id longer than 100 characters is not stored');
    expect(
      await t.server.scanning.store.vulnerability(t.server.database.db, long.id as string),
    ).toBeUndefined();
  });

  it('importing the same records again writes nothing and re-evaluates nothing', async () => {
    const result = await importRecords('again.json', RECORDS);
    expect(result).toMatchObject({ read: 7, inserted: 0, updated: 0, unchanged: 7, imagesQueued: 0 });
    expect((await t.server.jobs.runUntilIdle()).ran).toBe(0);
  });

  it('a newer record that no longer applies makes its finding disappear, recorded as an event', async () => {
    const newer = { ...RECORDS[0]!, modified: '2026-02-01T00:00:00Z' } as Record<string, unknown>;
    newer.affected = [
      {
        package: { ecosystem: 'Alpine:v3.19', name: 'busybox' },
        ranges: range({ introduced: '0' }, { fixed: '1.36.1-r10' }),
      },
    ];
    expect(await importRecords('update.json', [newer])).toMatchObject({ updated: 1, imagesQueued: 1 });
    await t.server.jobs.runUntilIdle();
    const after = await report('acme/alpine', alpine);
    expect(after.findings.map((f) => f.id)).toEqual(['CVE-2026-1000']);
    const changed = await eventsOf('dev.palisade.scanning.findings.changed.v1', `acme/alpine@${alpine}`);
    expect(changed.map((e) => e.data.body.resolved_count)).toContain(2);
  });

  it('SBOMs users push as referrers are matched too', async () => {
    const sbom = Buffer.from(
      JSON.stringify({
        bomFormat: 'CycloneDX',
        specVersion: '1.5',
        version: 1,
        components: [{ type: 'library', name: 'lodash', version: '4.17.15', purl: 'pkg:npm/lodash@4.17.15' }],
      }),
    );
    const blob = await pushBlob(app(), 'acme/alpine', sbom);
    const empty = await pushBlob(app(), 'acme/alpine', Buffer.from('{}'));
    const subject = (
      await app().inject({
        url: `/v2/acme/alpine/manifests/${alpine}`,
        headers: { accept: MediaTypes.ociManifest },
      })
    ).rawPayload;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        artifactType: 'application/vnd.cyclonedx+json',
        config: { mediaType: MediaTypes.ociEmpty, digest: empty, size: 2 },
        layers: [{ mediaType: 'application/vnd.cyclonedx+json', digest: blob, size: sbom.length }],
        subject: { mediaType: MediaTypes.ociManifest, digest: alpine, size: subject.length },
      }),
    );
    expect((await putManifest(app(), 'acme/alpine', digestOf(manifest), manifest)).statusCode).toBe(201);
    await t.server.jobs.runUntilIdle();
    const after = await report('acme/alpine', alpine);
    expect(after.findings.map((f) => `${f.id} ${f.package.version}`).sort()).toEqual([
      'CVE-2026-1000 4.17.15',
      'CVE-2026-1000 4.17.20',
      // Below the 4.17.20-beta.1 fix in SemVer order, unlike 4.17.20 itself.
      'GHSA-dddd-eeee-ffff 4.17.15',
    ]);
  });

  it('a multi-platform index reports each platform', async () => {
    const child = (
      await app().inject({
        url: `/v2/acme/alpine/manifests/${alpine}`,
        headers: { accept: MediaTypes.ociManifest },
      })
    ).rawPayload;
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [
          {
            mediaType: MediaTypes.ociManifest,
            digest: alpine,
            size: child.length,
            platform: { os: 'linux', architecture: 'amd64' },
          },
        ],
      }),
    );
    expect((await putManifest(app(), 'acme/alpine', 'multi', index, MediaTypes.ociIndex)).statusCode).toBe(
      201,
    );
    const res = await app().inject({
      url: '/api/v1/repositories/acme/alpine/manifests/multi/vulnerabilities',
    });
    const body = res.json<{ mediaType: string; manifests: (ImageReport & { platform: unknown })[] }>();
    expect(body.mediaType).toBe(MediaTypes.ociIndex);
    expect(body.manifests).toHaveLength(1);
    expect(body.manifests[0]).toMatchObject({ digest: alpine, platform: { architecture: 'amd64' } });
    expect(body.manifests[0]?.findings.length).toBeGreaterThan(0);
  });

  it('a hostile layer fails its analysis with the reason recorded, and the server stays healthy', async () => {
    const corrupt = gzipSync(await tarOf([{ path: 'etc/os-release', content: OS_RELEASE }]));
    corrupt.fill(0x41, 12, corrupt.length - 8);
    const traversal = gzipSync(await tarOf([{ path: '../../etc/os-release', content: OS_RELEASE }]));
    const bad1 = await pushLayers('acme/hostile', 'corrupt', [corrupt]);
    const bad2 = await pushLayers('acme/hostile', 'traversal', [traversal]);
    expect(await t.server.jobs.runUntilIdle()).toMatchObject({ failed: 0 });
    const r1 = await report('acme/hostile', bad1);
    expect(r1.analysis).toMatchObject({ status: 'failed', reason: 'corrupt-compression' });
    expect(r1.noKnownVulnerabilities).toBe(false);
    const r2 = await report('acme/hostile', bad2);
    expect(r2.analysis).toMatchObject({ status: 'failed', reason: 'unsafe-path' });
    expect(r2.analysis.message).toContain('..');
    const referrers = await app().inject({ url: `/v2/acme/hostile/referrers/${bad1}` });
    expect(referrers.json<{ manifests: unknown[] }>().manifests).toEqual([]);
    const failed = await eventsOf('dev.palisade.scanning.analysis.failed.v1', `acme/hostile@${bad1}`);
    expect(failed[0]?.data.body).toMatchObject({ reason: 'corrupt-compression' });
    expect((await app().inject({ url: '/readyz' })).statusCode).toBe(200);
    const metrics = (await app().inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/palisade_image_analyses\{status="failed"\} [1-9]/);
    expect(metrics).toMatch(/palisade_jobs\{state="succeeded"\} [1-9]/);
    expect(metrics).toMatch(/palisade_vulnerability_records 7/);
  });

  it('a Wolfi image built from a real apk database fixture lists every package in its SBOM', async () => {
    const fixture = readFileSync(
      new URL('../../test/fixtures/apk/syft-multiple-2.installed', import.meta.url),
    );
    const digest = await pushLayers('acme/wolfi', 'latest', [
      await gz([
        { path: 'usr/lib/os-release', content: 'ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\n' },
        { path: 'etc/os-release', symlink: '../usr/lib/os-release' },
        { path: 'lib/apk/db/installed', content: fixture },
      ]),
    ]);
    await t.server.jobs.runUntilIdle();
    const result = await report('acme/wolfi', digest);
    expect(result.analysis).toMatchObject({ status: 'done', packages: 14, distro: { id: 'wolfi' } });
    const spdx = await app().inject({ url: `/api/v1/repositories/acme/wolfi/manifests/${digest}/sbom` });
    const names = spdx
      .json<{ packages: { name: string }[] }>()
      .packages.map((p) => p.name)
      .filter((n) => n !== 'wolfi');
    const expected = fixture
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('P:'))
      .map((l) => l.slice(2));
    for (const name of expected) expect(names).toContain(name);
  });

  it('a package database that is not UTF-8 fails the analysis as invalid-utf8', async () => {
    const bad = Buffer.concat([
      Buffer.from('P:busybox\nV:1.0-r0\nT:'),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('\n\n'),
    ]);
    const digest = await pushLayers('acme/hostile', 'utf8', [
      await gz([{ path: 'lib/apk/db/installed', content: bad }]),
    ]);
    await t.server.jobs.runUntilIdle();
    const result = await report('acme/hostile', digest);
    expect(result.analysis).toMatchObject({ status: 'failed', reason: 'invalid-utf8' });
    expect(result.analysis.message).toContain('lib/apk/db/installed');
  });

  it('an analysis whose job gave up is reported as failed (without the internal error) until pushed again', async () => {
    const digest = await pushLayers('acme/stuck', 'v1', [
      await gz([{ path: 'etc/os-release', content: OS_RELEASE }]),
    ]);
    expect((await report('acme/stuck', digest)).analysis.status).toBe('queued');
    await t.server.database.db
      .updateTable('jobs')
      .set({ state: 'failed', attempts: 5, last_error: 'blob store unavailable' })
      .where('key', '=', `scan.analyze:acme/stuck@${digest}`)
      .execute();
    expect((await report('acme/stuck', digest)).analysis).toMatchObject({
      status: 'failed',
      reason: 'job-failed',
      message: 'the analysis job failed after 5 attempts; the server log has the error',
    });
    // Pushing the image again asks for a new analysis.
    const manifest = await app().inject({
      url: `/v2/acme/stuck/manifests/${digest}`,
      headers: { accept: MediaTypes.ociManifest },
    });
    expect((await putManifest(app(), 'acme/stuck', 'v2', manifest.rawPayload)).statusCode).toBe(201);
    await t.server.jobs.runUntilIdle();
    expect((await report('acme/stuck', digest)).analysis.status).toBe('done');
  });

  it('bad requests get clear errors', async () => {
    const unknown = await app().inject({
      url: `/api/v1/repositories/acme/alpine/manifests/sha256:${'0'.repeat(64)}/vulnerabilities`,
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json<{ errors: { code: string }[] }>().errors[0]?.code).toBe('MANIFEST_UNKNOWN');
    const badName = await app().inject({
      url: '/api/v1/repositories/ACME/app/manifests/v1/vulnerabilities',
    });
    expect(badName.statusCode).toBe(400);
    expect(badName.json<{ errors: { code: string }[] }>().errors[0]?.code).toBe('NAME_INVALID');
    const badFormat = await app().inject({
      url: '/api/v1/repositories/acme/alpine/manifests/3.19/sbom?format=xml',
    });
    expect(badFormat.statusCode).toBe(400);
    expect(badFormat.json<{ errors: { message: string }[] }>().errors[0]?.message).toContain(
      'spdx or cyclonedx',
    );
    const anonymous = await app().inject({
      url: `/api/v1/repositories/acme/alpine/manifests/3.19/vulnerabilities`,
      headers: { authorization: 'Bearer not-a-token' },
    });
    expect(anonymous.statusCode).toBe(401);
  });

  it('deleting an image forgets its analysis and findings', async () => {
    const digest = await pushLayers('acme/gone', 'v1', [
      await gz([{ path: 'etc/os-release', content: OS_RELEASE }]),
    ]);
    await t.server.jobs.runUntilIdle();
    expect((await report('acme/gone', digest)).analysis.status).toBe('done');
    expect(
      (await app().inject({ method: 'DELETE', url: `/v2/acme/gone/manifests/${digest}` })).statusCode,
    ).toBe(202);
    const rows = await t.server.database.db
      .selectFrom('image_analyses')
      .selectAll()
      .where('repository', '=', 'acme/gone')
      .where('digest', '=', digest)
      .execute();
    expect(rows).toEqual([]);
  });

  it('what scanning knew of manifests garbage collection removed is forgotten after the run', async () => {
    const digest = await pushLayers('acme/gc', 'v1', [
      await gz([{ path: 'etc/os-release', content: OS_RELEASE }]),
    ]);
    await t.server.jobs.runUntilIdle();
    const db = t.server.database.db;
    // As GC does: rows removed below the registry service, without its listeners.
    await db.deleteFrom('tags').where('repository', '=', 'acme/gc').execute();
    await db
      .deleteFrom('manifest_blobs')
      .where('repository', '=', 'acme/gc')
      .where('manifest_digest', '=', digest)
      .execute();
    await db
      .deleteFrom('manifests')
      .where('repository', '=', 'acme/gc')
      .where('digest', '=', digest)
      .execute();
    expect(await t.server.scanning.store.forgetOrphans(db)).toBe(1);
    expect((await report('acme/alpine', alpine)).analysis.status).toBe('done');
    const left = await db
      .selectFrom('image_analyses')
      .select('digest')
      .where('repository', '=', 'acme/gc')
      .execute();
    expect(left).toEqual([]);
  });
});
