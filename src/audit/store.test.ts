// Time ranges over the audit log come from the UUIDv7 ids (there is no index on `time`): events
// in range are found exactly, including rows whose id was made a little after their time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import type { DatabaseHandle } from '../db/database.js';
import { createTestDatabase, testDialects, type TestDatabase } from '../db/test-databases.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { AuditLog } from './audit-log.js';
import { AuditStore, uuidv7Floor } from './store.js';
import { verifyStored } from './verify.js';

describe('uuidv7Floor', () => {
  it('sorts below every id of its millisecond and above every id of the one before', () => {
    for (const ms of [0, 1, 1_764_150_000_000, 2 ** 48 - 2]) {
      const floor = uuidv7Floor(ms);
      for (let i = 0; i < 50; i += 1) {
        expect(uuidv7({ msecs: ms }) >= floor).toBe(true);
        expect(uuidv7({ msecs: ms }) < uuidv7Floor(ms + 1)).toBe(true);
      }
    }
    expect(uuidv7Floor(0xabcdef012345)).toBe('abcdef01-2345');
  });
});

describe.each(testDialects())('audit store time ranges (%s)', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let store: AuditStore;
  const T0 = 1_764_150_000_000;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = await database.open();
    store = AuditStore.of(handle);
    const audit = new AuditLog(store, () => 'http://palisade.test');
    await handle.db.transaction().execute((trx) =>
      audit.recordMany(
        trx,
        [-10_000, -1, 0, 5_000].map((offset) => ({
          type: 'dev.palisade.test.thing.done.v1',
          subject: `at${offset}`,
          time: T0 + offset,
        })),
      ),
    );
    await audit.settle();
    // A row written before ids carried their event's time exactly: its id is from a little later.
    await handle.db
      .updateTable('audit_events')
      .set({ id: uuidv7({ msecs: T0 + 1_000 }) })
      .where('subject', '=', 'at-1')
      .execute();
  });
  afterAll(async () => {
    await handle.close();
    await database.dispose();
  });

  const subjects = async (filter: { since?: number; until?: number }) =>
    (await store.list(store.db, filter, 100)).map((e) => e.subject);

  it('finds events by time through their ids, exactly', async () => {
    expect(await subjects({ since: T0 })).toEqual(['at0', 'at5000']);
    expect(await subjects({ until: T0 })).toEqual(['at-10000', 'at-1']);
    expect(await subjects({ since: T0 - 1, until: T0 + 5_000 })).toEqual(['at-1', 'at0']);
    expect(await subjects({ since: T0 + 5_001 })).toEqual([]);
    expect(await store.lastSeqBefore(store.db, T0)).toBe(2);
    expect(await store.lastSeqBefore(store.db, T0 - 10_000)).toBeUndefined();
  });

  it('appends on the prepared-statement path and the query-builder path alike', async () => {
    // The store made with the SQLite statements appends without a wait; one without them goes
    // through Kysely (on PostgreSQL both go through the outbox). Both extend one chain.
    const plain = new AuditLog(new AuditStore(handle.db, handle.dialect), () => 'http://palisade.test');
    await handle.db
      .transaction()
      .execute((trx) =>
        plain.recordMany(trx, [{ type: 'dev.palisade.test.thing.done.v1', subject: 'plain' }]),
      );
    const fast = new AuditLog(store, () => 'http://palisade.test');
    await handle.db
      .transaction()
      .execute((trx) => fast.record(trx, { type: 'dev.palisade.test.thing.done.v1', subject: 'fast' }));
    // On PostgreSQL both wait in the outbox until chained, in the order they were committed.
    await plain.settle();
    const rows = await store.list(store.db, { afterSeq: 4 }, 10);
    expect(rows.map((r) => [r.seq, r.subject])).toEqual([
      [5, 'plain'],
      [6, 'fast'],
    ]);
    // The chain verifies from the first row on (the id edit above touched no hashed text).
    expect((await verifyStored(store)).ok).toBe(true);
  });
});

describe.each(testDialects())('chaining after commit (%s)', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let store: AuditStore;
  let audit: AuditLog;
  const thing = (subject: string) => ({ type: 'dev.palisade.test.thing.done.v1', subject });
  const counts = async () => ({
    events: (await handle.db.selectFrom('audit_events').select('seq').execute()).length,
    outbox: (await handle.db.selectFrom('audit_outbox').select('n').execute()).length,
  });
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = await database.open();
    store = AuditStore.of(handle);
    audit = new AuditLog(store, () => 'http://palisade.test');
  });
  afterAll(async () => {
    await handle.close();
    await database.dispose();
  });

  it('keeps a change’s events with the change, chained before its caller goes on, gone with a rollback', async () => {
    expect(store.chainsAfterCommit).toBe(dialect === 'postgres');
    await expect(
      handle.db.transaction().execute(async (trx) => {
        await audit.recordMany(trx, [thing('rolled-back')]);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await counts()).toEqual({ events: 0, outbox: 0 });

    // PostgreSQL's events were committed to the outbox and chained before the transaction's
    // caller went on (the database handle runs the chainer after such a commit); SQLite chained
    // them in the transaction.
    await handle.db.transaction().execute((trx) => audit.recordMany(trx, [thing('a'), thing('b')]));
    expect(await counts()).toEqual({ events: 2, outbox: 0 });
    expect((await store.list(store.db, {}, 10)).map((e) => e.subject)).toEqual(['a', 'b']);
    // PostgreSQL hashes the chain itself: its bytes of non-ASCII text must be JavaScript's.
    await handle.db
      .transaction()
      .execute((trx) =>
        audit.recordMany(trx, [{ ...thing('ünïcödé ✓ 𝄞'), body: { note: 'émoji 🚢, "quotes" \\ \u0001' } }]),
      );
    expect((await verifyStored(store)).ok).toBe(true);
  });

  it('keeps one gapless chain when two servers chain the same outbox at once', async () => {
    // A second replica: its own connections and its own chainer, on the same database.
    const other = await database.open();
    try {
      const otherAudit = new AuditLog(AuditStore.of(other), () => 'http://palisade.test');
      const before = (await counts()).events;
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => {
          const [db, log] = i % 2 === 0 ? [handle.db, audit] : [other.db, otherAudit];
          return db.transaction().execute((trx) => log.recordMany(trx, [thing(`r${i}-1`), thing(`r${i}-2`)]));
        }),
      );
      await Promise.all([audit.settle(), otherAudit.settle()]);
      const rows = await store.list(store.db, {}, 1000);
      expect(rows).toHaveLength(before + 80);
      expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
      expect((await counts()).outbox).toBe(0);
      expect((await verifyStored(store)).ok).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('chains concurrent changes without gaps, and what a stopped process left behind', async () => {
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        handle.db.transaction().execute((trx) => audit.recordMany(trx, [thing(`c${i}-1`), thing(`c${i}-2`)])),
      ),
    );
    // What a process left in the outbox when it stopped between its commit and the chaining
    // (PostgreSQL: SQLite has no outbox in use).
    const leftBehind = dialect === 'postgres' ? 1 : 0;
    if (leftBehind) {
      await handle.db
        .insertInto('audit_outbox')
        .values({
          id: uuidv7(),
          type: 'dev.palisade.test.thing.done.v1',
          subject: 'left-behind',
          org: null,
          actor: 'system:palisade',
          time: Date.now(),
          event: canonicalJson({ specversion: '1.0', subject: 'left-behind' }),
        })
        .execute();
    }
    expect((await counts()).outbox).toBe(leftBehind);
    await audit.settle();
    const rows = await store.list(store.db, {}, 1000);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows).toHaveLength(3 + 80 + 60 + leftBehind);
    if (leftBehind) expect(rows.map((r) => r.subject)).toContain('left-behind');
    // Each change's own events keep their order.
    for (let i = 0; i < 30; i += 1) {
      const first = rows.findIndex((r) => r.subject === `c${i}-1`);
      expect(first).toBeLessThan(rows.findIndex((r) => r.subject === `c${i}-2`));
    }
    expect(await counts()).toEqual({ events: 3 + 80 + 60 + leftBehind, outbox: 0 });
    expect((await verifyStored(store)).ok).toBe(true);
  });
});
