// Durable jobs on both databases: one live job per key, re-enqueue while running runs it again,
// retries with backoff then failure for good, leases taken over after a crash, and no double claim.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../db/database.js';
import { createTestDatabase, testDialects, type TestDatabase } from '../db/test-databases.js';
import { JobRunner } from './runner.js';
import { JobStore } from './store.js';

describe.each(testDialects())('durable jobs (%s)', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let store: JobStore;
  let now = 1_000_000;
  const clock = () => now;
  let n = 0;
  const key = () => `test:${++n}`;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = await database.open();
    store = new JobStore(handle.db);
  });
  afterAll(async () => {
    await handle.close();
    await database.dispose();
  });

  it('enqueuing the same key twice keeps one queued job with the newest payload', async () => {
    const k = key();
    await store.enqueue(store.db, { kind: 'k', key: k, payload: { v: 1 } }, now);
    await store.enqueue(store.db, { kind: 'k', key: k, payload: { v: 2 } }, now);
    const rows = await handle.db.selectFrom('jobs').selectAll().where('key', '=', k).execute();
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!.payload)).toEqual({ v: 2 });
    const seen: unknown[] = [];
    const runner = new JobRunner(store, {}, undefined, clock).handle('k', (job) => {
      seen.push(job.payload);
      return Promise.resolve({ ok: true });
    });
    expect(await runner.runUntilIdle()).toMatchObject({ ran: 1, succeeded: 1, failed: 0 });
    expect(seen).toEqual([{ v: 2 }]);
    expect(await store.find(store.db, k)).toMatchObject({ state: 'succeeded', result: { ok: true } });
  });

  it('a job enqueued again while it runs runs once more afterwards; a finished one is re-armed', async () => {
    const k = key();
    await store.enqueue(store.db, { kind: 'again', key: k, payload: 1 }, now);
    const seen: unknown[] = [];
    const runner = new JobRunner(store, {}, undefined, clock).handle('again', async (job) => {
      seen.push(job.payload);
      if (job.payload === 1) await store.enqueue(store.db, { kind: 'again', key: k, payload: 2 }, now);
    });
    expect((await runner.runUntilIdle()).ran).toBe(2);
    expect(seen).toEqual([1, 2]);
    await store.enqueue(store.db, { kind: 'again', key: k, payload: 3 }, now);
    expect((await runner.runUntilIdle()).ran).toBe(1);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('retries a failing job with backoff, then fails it for good after its attempts', async () => {
    const k = key();
    await store.enqueue(store.db, { kind: 'flaky', key: k, payload: null, maxAttempts: 3 }, now);
    let calls = 0;
    const runner = new JobRunner(
      store,
      { backoffInitialMs: 1000, backoffMaxMs: 10_000 },
      undefined,
      clock,
    ).handle('flaky', () => {
      calls++;
      return Promise.reject(new Error(`broken ${calls}`));
    });
    expect(await runner.runUntilIdle()).toMatchObject({
      ran: 1,
      failed: 1,
      errors: [`flaky ${k}: broken 1`],
    });
    expect(await runner.runUntilIdle()).toMatchObject({ ran: 0 });
    const queued = await store.find(store.db, k);
    expect(queued).toMatchObject({ state: 'queued', attempts: 1, lastError: 'broken 1' });
    now += 1000;
    expect((await runner.runUntilIdle()).ran).toBe(1);
    now += 2000;
    expect((await runner.runUntilIdle()).ran).toBe(1);
    now += 60_000;
    expect((await runner.runUntilIdle()).ran).toBe(0);
    expect(await store.find(store.db, k)).toMatchObject({
      state: 'failed',
      attempts: 3,
      lastError: 'broken 3',
    });
    expect(calls).toBe(3);
  });

  it('a job whose worker died is taken over after its lease; the dead worker cannot complete it', async () => {
    const k = key();
    await store.enqueue(store.db, { kind: 'lease', key: k, payload: null }, now);
    const dead = await store.claim('dead-worker', now, 1000);
    expect(dead?.key).toBe(k);
    expect(await store.claim('other', now + 500, 1000)).toBeUndefined();
    const taken = await store.claim('other', now + 1001, 1000);
    expect(taken).toMatchObject({ key: k, attempt: 2 });
    expect(await store.complete(dead!.id, 'dead-worker', null, now + 1002)).toBe(false);
    expect(await store.complete(taken!.id, 'other', 'done', now + 1002)).toBe(true);
    expect(await store.find(store.db, k)).toMatchObject({ state: 'succeeded', result: 'done' });
  });

  it('a job whose worker died during its last attempt is failed, not run again', async () => {
    const k = key();
    await store.enqueue(store.db, { kind: 'poison', key: k, payload: null, maxAttempts: 2 }, now);
    expect(await store.claim('w1', now, 1000)).toMatchObject({ attempt: 1 });
    expect(await store.claim('w2', now + 1001, 1000)).toMatchObject({ attempt: 2 });
    // w2 died too (the job crashes its worker): after the lease, nobody runs it a third time.
    expect(await store.claim('w3', now + 2002, 1000)).toBeUndefined();
    expect(await store.find(store.db, k)).toMatchObject({ state: 'failed', attempts: 2 });
  });

  it('a job asked for again while it runs still reruns when the run ends, in success or failure', async () => {
    const k = key();
    await store.enqueue(store.db, { kind: 'rr', key: k, payload: 1, maxAttempts: 1 }, now);
    const first = await store.claim('w', now, 60_000);
    await store.enqueue(store.db, { kind: 'rr', key: k, payload: 2 }, now);
    expect(await store.fail(first!.id, 'w', 'boom', now, undefined)).toBe(true);
    expect(await store.find(store.db, k)).toMatchObject({ state: 'queued', attempts: 0 });
    const second = await store.claim('w', now, 60_000);
    expect(second?.payload).toBe(2);
    expect(await store.complete(second!.id, 'w', 'ok', now)).toBe(true);
    expect(await store.find(store.db, k)).toMatchObject({ state: 'succeeded', result: 'ok' });
  });

  it('concurrent claims never hand one job to two workers', async () => {
    const keys = Array.from({ length: 20 }, key);
    for (const k of keys) await store.enqueue(store.db, { kind: 'race', key: k, payload: null }, now);
    const claimed: string[] = [];
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (;;) {
          const job = await store.claim(`w${w}`, now, 60_000);
          if (!job) {
            const left = await handle.db
              .selectFrom('jobs')
              .select('key')
              .where('kind', '=', 'race')
              .where('state', '=', 'queued')
              .execute();
            if (left.length === 0) return;
            continue;
          }
          claimed.push(job.key);
          await store.complete(job.id, `w${w}`, null, now);
        }
      }),
    );
    expect(claimed.sort()).toEqual([...keys].sort());
  });

  it('the background runner picks up work when nudged and stops cleanly', async () => {
    const k = key();
    let resolveRan: () => void = () => undefined;
    const ran = new Promise<void>((resolve) => (resolveRan = resolve));
    const runner = new JobRunner(store, { pollMs: 60_000 }, undefined, clock).handle('bg', () => {
      resolveRan();
      return Promise.resolve();
    });
    runner.start();
    await store.enqueue(store.db, { kind: 'bg', key: k, payload: null }, now);
    runner.nudge();
    await ran;
    await runner.stop();
    expect((await store.find(store.db, k))?.state).toBe('succeeded');
    expect((await store.counts()).succeeded).toBeGreaterThan(0);
  });

  it('gives way to a busy server, then runs when it is idle — or after maxYieldMs of busy', async () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    let busy = true;
    const ranKeys: string[] = [];
    const politeRunner = (maxYieldMs: number) =>
      new JobRunner(store, { pollMs: 60_000, busy: () => busy, maxYieldMs }, undefined, clock).handle(
        'polite',
        (job) => {
          ranKeys.push(job.key);
          return Promise.resolve();
        },
      );
    const runner = politeRunner(60_000);
    const first = key();
    await store.enqueue(store.db, { kind: 'polite', key: first, payload: null }, now);
    runner.start();
    await sleep(300);
    expect(ranKeys).toEqual([]); // busy: nothing ran
    busy = false;
    for (let i = 0; i < 50 && ranKeys.length === 0; i += 1) await sleep(20);
    expect(ranKeys).toEqual([first]);
    await runner.stop();

    // Busy for longer than maxYieldMs (on the runner's clock): jobs run alongside again.
    busy = true;
    const second = key();
    await store.enqueue(store.db, { kind: 'polite', key: second, payload: null }, now);
    const patient = politeRunner(1_000);
    patient.start();
    await sleep(300);
    expect(ranKeys).toEqual([first]);
    now += 1_000;
    for (let i = 0; i < 50 && ranKeys.length === 1; i += 1) await sleep(20);
    expect(ranKeys).toEqual([first, second]);
    await patient.stop();
  });
});
