// Tamper evidence: rows changed, deleted, inserted or reordered directly in the database are all
// caught, and the first bad sequence number is named. Runs on both databases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { chainHash, GENESIS_HASH, verifyChain } from './chain.js';
import { AuditStore } from './store.js';
import { verifyStored } from './verify.js';

describe('the chain hash', () => {
  it('is sha256 over the previous hash and the RFC 8785 canonical JSON', () => {
    // Key order and number spelling do not matter to JCS; values do.
    const a = chainHash(GENESIS_HASH, { b: 1, a: [1.0, 'x'] });
    expect(chainHash(GENESIS_HASH, { a: [1, 'x'], b: 1 })).toBe(a);
    expect(chainHash(GENESIS_HASH, { a: [1, 'y'], b: 1 })).not.toBe(a);
    expect(chainHash('1'.repeat(64), { a: [1, 'x'], b: 1 })).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });

  it('verifies an untouched chain and names the first bad row of a touched one', () => {
    const rows: { seq: number; prev_hash: string; hash: string; event: string }[] = [];
    let prev = GENESIS_HASH;
    for (let seq = 1; seq <= 5; seq += 1) {
      const event = { id: `e${seq}`, n: seq };
      const hash = chainHash(prev, event);
      rows.push({ seq, prev_hash: prev, hash, event: JSON.stringify(event) });
      prev = hash;
    }
    expect(verifyChain(rows)).toMatchObject({ ok: true, checked: 5, lastSeq: 5 });
    const edited = rows.map((r) => (r.seq === 3 ? { ...r, event: JSON.stringify({ id: 'e3', n: 99 }) } : r));
    expect(verifyChain(edited).firstBad).toEqual({ seq: 3, reason: 'its content does not match its hash' });
    expect(verifyChain(rows.filter((r) => r.seq !== 2)).firstBad?.seq).toBe(2);
    expect(verifyChain([rows[0]!, rows[2]!, rows[1]!, rows[3]!]).firstBad?.seq).toBe(2);
  });
});

describe.each(testDialects())('tampering with the stored log (%s)', (dialect) => {
  let t: TestServer;
  let store: AuditStore;
  beforeAll(async () => {
    t = await startTestServer(dialect, {}, { asAdmin: false });
    store = new AuditStore(t.server.database.db, t.server.database.dialect);
    const admin = { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' };
    for (let i = 0; i < 6; i += 1) {
      const res = await t.server.app.inject({
        method: 'POST',
        url: '/api/v1/iam/users',
        headers: admin,
        payload: JSON.stringify({ display_name: `u${i}` }),
      });
      expect(res.statusCode).toBe(201);
    }
  });
  afterAll(async () => t.dispose());

  const db = () => t.server.database.db;
  /** Runs a tampering, checks what verify says, then restores the rows as they were. */
  async function tampered(change: () => Promise<void>): Promise<{ seq: number; reason: string } | undefined> {
    const saved = await db().selectFrom('audit_events').selectAll().orderBy('seq').execute();
    const head = await db().selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
    await change();
    // The same verdict whether rows are hashed inline or on the worker thread, page by page.
    const result = await verifyStored(store, { pageSize: 4, hashing: 'inline' });
    expect(await verifyStored(store, { pageSize: 4, hashing: 'thread' })).toEqual(result);
    await db().deleteFrom('audit_events').execute();
    for (const row of saved) await db().insertInto('audit_events').values(row).execute();
    await db().updateTable('audit_head').set({ seq: head.seq, hash: head.hash }).execute();
    return result.firstBad;
  }

  it('verifies the untouched log across pages', async () => {
    const result = await verifyStored(store, { pageSize: 4 });
    expect(result.ok).toBe(true);
    expect(await verifyStored(store, { pageSize: 4, hashing: 'thread' })).toEqual(result);
    expect(result.checked).toBeGreaterThanOrEqual(12);
  });

  it('catches a changed event', async () => {
    const bad = await tampered(async () => {
      const row = await db()
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '=', 5)
        .executeTakeFirstOrThrow();
      await db()
        .updateTable('audit_events')
        .set({ event: row.event.replace('"u', '"x') })
        .where('seq', '=', 5)
        .execute();
    });
    expect(bad).toEqual({ seq: 5, reason: 'its content does not match its hash' });
  });

  it('catches a deleted event, in the middle and at the end', async () => {
    expect(
      (
        await tampered(() =>
          db()
            .deleteFrom('audit_events')
            .where('seq', '=', 7)
            .execute()
            .then(() => undefined),
        )
      )?.seq,
    ).toBe(7);
    const last = (await store.head(db())).seq;
    expect(
      (
        await tampered(() =>
          db()
            .deleteFrom('audit_events')
            .where('seq', '=', last)
            .execute()
            .then(() => undefined),
        )
      )?.seq,
    ).toBe(last);
  });

  it('catches an inserted event and reordered events', async () => {
    const inserted = await tampered(async () => {
      // Make room at 4 (renumbering from the end so keys never collide) and slip a forged event in.
      const rows = await db()
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '>=', 4)
        .orderBy('seq', 'desc')
        .execute();
      for (const row of rows)
        await db()
          .updateTable('audit_events')
          .set({ seq: row.seq + 1 })
          .where('seq', '=', row.seq)
          .execute();
      const model = rows[rows.length - 1]!;
      await db()
        .insertInto('audit_events')
        .values({
          ...model,
          seq: 4,
          id: 'forged-0000-0000-0000-000000000000',
          event: model.event.replace('"u', '"z'),
        })
        .execute();
    });
    expect(inserted?.seq).toBe(4);
    const reordered = await tampered(async () => {
      const a = await db()
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '=', 2)
        .executeTakeFirstOrThrow();
      const b = await db()
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '=', 3)
        .executeTakeFirstOrThrow();
      await db().deleteFrom('audit_events').where('seq', 'in', [2, 3]).execute();
      await db()
        .insertInto('audit_events')
        .values({ ...a, seq: 3 })
        .execute();
      await db()
        .insertInto('audit_events')
        .values({ ...b, seq: 2 })
        .execute();
    });
    expect(reordered?.seq).toBe(2);
    expect((await verifyStored(store)).ok).toBe(true);
  });
});
