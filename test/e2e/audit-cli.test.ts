// The audit log from the CLI alone, against `palisade serve`: who pushed a digest (and as which
// original identity), an export with its checkpoints and JWKS, offline and online verification,
// and the first bad sequence number named after the database or the export is tampered with.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OCI_CONFIG,
  OCI_MANIFEST,
  TempDirs,
  authorizedFetch,
  expectSuccess,
  runCli,
  sha256,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
} from './harness.js';

const temp = new TempDirs();

describe('palisade events and palisade audit verify', () => {
  let server: RunningServer;
  let token = '';
  let manifestDigest = '';
  const http = authorizedFetch(() => token);
  const cli = (args: string[]) =>
    runCli(
      [...args, '--server', server.url],
      { PALISADE_TOKEN: token, XDG_CONFIG_HOME: temp.make() },
      60_000,
    );

  beforeAll(async () => {
    server = await startServer();
    token = await server.adminToken();
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const blob = await http(`${server.url}/v2/acme/app/blobs/uploads/?digest=${sha256(config)}`, {
      method: 'POST',
      body: config,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(blob.status).toBe(201);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [],
    });
    const put = await http(`${server.url}/v2/acme/app/manifests/v1`, {
      method: 'PUT',
      body: manifest,
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    expect(put.status).toBe(201);
    manifestDigest = put.headers.get('docker-content-digest')!;
    // The server signs its first checkpoint within one 10 s tick.
    await waitFor(
      'the first signed checkpoint',
      async () =>
        ((await (await http(`${server.url}/api/v1/audit/checkpoints`)).json()) as { checkpoints: unknown[] })
          .checkpoints.length > 0 || undefined,
      20_000,
      250,
    );
  });
  afterAll(async () => {
    await stopAllServers();
    temp.removeAll();
  });

  it('answers who pushed a digest', async () => {
    const table = expectSuccess(
      await cli(['events', 'list', '--subject', `acme/app@${manifestDigest}`]),
      'events list',
    ).stdout.split('\n');
    expect(table[0]).toMatch(/^SEQ\s+TIME\s+TYPE\s+SUBJECT\s+ACTOR\s+IDENTITY\s+IP$/);
    expect(table[1]).toMatch(
      /registry\.manifest\.pushed\s+acme\/app@sha256:[0-9a-f]{64}\s+system:break-glass/,
    );
  });

  it('exports with a progress-ready summary, and the export verifies offline', async () => {
    const file = join(temp.make(), 'audit.ndjson');
    const exported = expectSuccess(await cli(['events', 'export', '--file', file]), 'events export');
    expect(exported.stderr).toMatch(/^palisade: exported \d+ events to /m);
    expect(existsSync(`${file}.checkpoints.json`) && existsSync(`${file}.jwks.json`)).toBe(true);
    const offline = expectSuccess(
      await runCli(['audit', 'verify', '--export', file]),
      'audit verify --export',
    );
    expect(offline.stdout).toMatch(
      /^OK: \d+ events \(1–\d+\) chain intact; [1-9]\d* signed checkpoint\(s\) verified/,
    );

    const lines = readFileSync(file, 'utf8').trim().split('\n');
    lines[1] = lines[1]!.replace('"dev.palisade.', '"dev.palisade.x');
    const tampered = join(temp.make(), 'tampered.ndjson');
    writeFileSync(tampered, `${lines.join('\n')}\n`);
    const broken = await runCli(['audit', 'verify', '--export', tampered, '--jwks', `${file}.jwks.json`]);
    expect(broken.code).toBe(1);
    expect(broken.stderr.trim()).toBe(
      'palisade: the audit log does not verify at sequence 2: its content does not match its hash',
    );
  });

  it('verifies online, and names the first bad sequence once the database is touched', async () => {
    expect(expectSuccess(await cli(['audit', 'verify']), 'audit verify').stdout).toMatch(/^OK: /);
    const db = new Database(join(server.dataDir, 'palisade.db'));
    try {
      db.prepare(
        "update audit_events set event = replace(event, 'acme/app', 'acme/evil') where seq = (select min(seq) from audit_events where type = 'dev.palisade.registry.manifest.pushed.v1')",
      ).run();
      const seq = (
        db
          .prepare(
            "select min(seq) as seq from audit_events where type = 'dev.palisade.registry.manifest.pushed.v1'",
          )
          .get() as { seq: number }
      ).seq;
      const result = await cli(['audit', 'verify']);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `palisade: the audit log does not verify at sequence ${seq}: its content does not match its hash`,
      );
    } finally {
      db.close();
    }
  });
});
