// Retention with a controlled clock: only whole prefixes older than the retention period go, a
// signed anchor keeps what remains verifiable (online and as an offline export), the pruning is
// itself an event, and a legal hold stops it.
import type { JSONWebKeySet } from 'jose';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { fromExported } from './export.js';
import { verifyExport, type CheckpointRecord } from './verify-export.js';
import { verifyStored } from './verify.js';

const DAY = 86_400_000;

describe.each(testDialects())('audit retention (%s)', (dialect) => {
  let t: TestServer;
  const admin = () => ({ authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' });
  const db = () => t.server.database.db;

  beforeAll(async () => {
    t = await startTestServer(dialect, { audit: { retentionDays: 400 } }, { asAdmin: false });
    for (let i = 0; i < 8; i += 1) {
      await t.server.app.inject({
        method: 'POST',
        url: '/api/v1/iam/users',
        headers: admin(),
        payload: JSON.stringify({ display_name: `u${i}` }),
      });
    }
  });
  afterAll(async () => t.dispose());

  it('prunes only the prefix older than the retention period and keeps the rest verifiable', async () => {
    const now = Date.now();
    // Events 1–5 happened 500 days ago: their time, and their UUIDv7 ids, which carry it (the id
    // index is how retention finds them).
    for (let seq = 1; seq <= 5; seq += 1) {
      await db()
        .updateTable('audit_events')
        .set({ time: now - 500 * DAY, id: uuidv7({ msecs: now - 500 * DAY }) })
        .where('seq', '=', seq)
        .execute();
    }
    const result = await t.server.retention.prune(now);
    expect(result).toMatchObject({ held: false, pruned: 5, throughSeq: 5, errors: [] });
    const remaining = await db().selectFrom('audit_events').select('seq').orderBy('seq').execute();
    expect(remaining[0]!.seq).toBe(6);
    const last = await t.server.audit.store.list(db(), { typePrefix: 'dev.palisade.audit.log.pruned' }, 10);
    expect(JSON.parse(last[0]!.event)).toMatchObject({ data: { body: { through_seq: 5, events: 5 } } });
    expect((await verifyStored(t.server.audit.store)).ok).toBe(true);

    // Offline: the export starts at 6 and the signed anchor vouches for where.
    await t.server.checkpointer.maybeCheckpoint();
    const get = (url: string) => t.server.app.inject({ method: 'GET', url, headers: admin() });
    const rows = (await get('/api/v1/events/export')).body
      .trim()
      .split('\n')
      .map((l) => fromExported(JSON.parse(l)));
    const published = (await get('/api/v1/audit/checkpoints')).json<{
      checkpoints: CheckpointRecord[];
      anchor: CheckpointRecord;
    }>();
    expect(published.anchor.seq).toBe(5);
    const jwks = (await get('/.well-known/jwks.json')).json<JSONWebKeySet>();
    const issuer = t.server.identity.tokens.issuer;
    const verified = await verifyExport(rows, published.checkpoints, jwks, issuer, published.anchor);
    expect(verified).toMatchObject({ ok: true, firstSeq: 6 });
    expect(verified.warnings.filter((w) => w.includes('anchor'))).toEqual([]);
    // A forger who moves the start must forge the anchor's signature too.
    const moved = await verifyExport(rows.slice(1), published.checkpoints, jwks, issuer, {
      ...published.anchor,
      seq: 6,
    });
    expect(moved.ok).toBe(false);

    // Tampering with the stored anchor is caught at the first retained event.
    await db()
      .updateTable('audit_anchor')
      .set({ hash: '0'.repeat(64) })
      .execute();
    expect((await verifyStored(t.server.audit.store)).firstBad?.seq).toBe(6);
  });

  it('prunes nothing under a legal hold', async () => {
    const held = await startTestServer(dialect, { audit: { legalHold: true } }, { asAdmin: false });
    try {
      await held.server.app.inject({
        method: 'POST',
        url: '/api/v1/iam/users',
        headers: { authorization: `Bearer ${held.adminToken}`, 'content-type': 'application/json' },
        payload: '{"display_name":"x"}',
      });
      const before = await held.server.database.db.selectFrom('audit_events').select('seq').execute();
      expect(await held.server.retention.prune(Date.now() + 10_000 * DAY)).toEqual({
        held: true,
        pruned: 0,
        errors: [],
      });
      expect(await held.server.database.db.selectFrom('audit_events').select('seq').execute()).toEqual(
        before,
      );
    } finally {
      await held.dispose();
    }
  });
});
