// SQL for durable background jobs. A job is a row keyed by what it is about (e.g. the image it
// analyses), so asking twice for the same work re-arms one row instead of queueing duplicates.
// Claims and completions are compare-and-set on state and lease, so a crashed worker's job is
// taken over after its lease and two servers sharing a database never run one job at once.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, JobsTable } from '../db/schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

export interface EnqueueInput {
  kind: string;
  /** What the job is about; one live job per key. */
  key: string;
  payload: unknown;
  /** Not before this time (ms); default now. */
  runAfter?: number;
  maxAttempts?: number;
}

export interface ClaimedJob {
  id: string;
  kind: string;
  key: string;
  payload: unknown;
  /** 1 on the first run. */
  attempt: number;
  maxAttempts: number;
}

export interface JobView {
  id: string;
  kind: string;
  key: string;
  state: JobsTable['state'];
  attempts: number;
  lastError: string | null;
  result: unknown;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

const NUMERIC = [
  'attempts',
  'max_attempts',
  'rerun',
  'run_after',
  'lease_until',
  'created_at',
  'updated_at',
] as const;

function fromRow(row: JobsTable): JobsTable {
  const out = { ...row } as Record<string, unknown>;
  for (const key of NUMERIC) out[key] = Number(out[key]);
  if (row.finished_at !== null) out.finished_at = Number(row.finished_at);
  return out as unknown as JobsTable;
}

export class JobStore {
  constructor(readonly db: Kysely<Database>) {}

  /** Queues the job, in the caller's transaction when one is given (e.g. the push it follows). */
  async enqueue(ex: Executor, input: EnqueueInput, now: number): Promise<void> {
    const payload = JSON.stringify(input.payload);
    const runAfter = input.runAfter ?? now;
    const inserted = await ex
      .insertInto('jobs')
      .values({
        id: randomUUID(),
        kind: input.kind,
        key: input.key,
        payload,
        state: 'queued',
        attempts: 0,
        max_attempts: input.maxAttempts ?? 5,
        rerun: 0,
        run_after: runAfter,
        lease_owner: null,
        lease_until: 0,
        last_error: null,
        result: null,
        created_at: now,
        updated_at: now,
        finished_at: null,
      })
      .onConflict((oc) => oc.column('key').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted !== undefined) return;
    // Running now: run once more afterwards, with the newest payload.
    await ex
      .updateTable('jobs')
      .set({ rerun: 1, payload, run_after: runAfter, updated_at: now })
      .where('key', '=', input.key)
      .where('state', '=', 'running')
      .execute();
    // Finished: queue again. Queued: keep its place, take the newest payload.
    await ex
      .updateTable('jobs')
      .set({
        state: 'queued',
        payload,
        attempts: 0,
        run_after: runAfter,
        last_error: null,
        result: null,
        finished_at: null,
        lease_owner: null,
        lease_until: 0,
        updated_at: now,
      })
      .where('key', '=', input.key)
      .where('state', 'in', ['succeeded', 'failed'])
      .execute();
    await ex
      .updateTable('jobs')
      .set({ payload, updated_at: now })
      .where('key', '=', input.key)
      .where('state', '=', 'queued')
      .execute();
  }

  /** Takes the next due job (or one whose worker's lease ran out); undefined when none is due. */
  async claim(owner: string, now: number, leaseMs: number): Promise<ClaimedJob | undefined> {
    for (let tries = 0; tries < 5; tries++) {
      const candidate = await this.db
        .selectFrom('jobs')
        .selectAll()
        .where((eb) =>
          eb.or([
            eb.and([eb('state', '=', 'queued'), eb('run_after', '<=', now)]),
            eb.and([eb('state', '=', 'running'), eb('lease_until', '<', now)]),
          ]),
        )
        .orderBy('run_after')
        .orderBy('id')
        .limit(1)
        .executeTakeFirst();
      if (!candidate) return undefined;
      const row = fromRow(candidate);
      if (row.state === 'running' && row.attempts >= row.max_attempts) {
        // Its worker stopped (crashed?) during the last attempt: running it again could crash the
        // next one the same way, at every restart.
        await this.db
          .updateTable('jobs')
          .set({
            state: 'failed',
            last_error: 'the worker running its last attempt stopped before finishing (a crash?)',
            lease_owner: null,
            lease_until: 0,
            updated_at: now,
            finished_at: now,
          })
          .where('id', '=', row.id)
          .where('state', '=', 'running')
          .where('lease_until', '=', row.lease_until)
          .execute();
        continue;
      }
      const taken = await this.db
        .updateTable('jobs')
        .set({
          state: 'running',
          attempts: row.attempts + 1,
          lease_owner: owner,
          lease_until: now + leaseMs,
          updated_at: now,
        })
        .where('id', '=', row.id)
        .where('state', '=', row.state)
        .where('lease_until', '=', row.lease_until)
        .where('attempts', '=', row.attempts)
        .executeTakeFirst();
      if (Number(taken.numUpdatedRows) === 1) {
        return {
          id: row.id,
          kind: row.kind,
          key: row.key,
          payload: JSON.parse(row.payload) as unknown,
          attempt: row.attempts + 1,
          maxAttempts: row.max_attempts,
        };
      }
    }
    return undefined;
  }

  /** Keeps a long job's lease; false when another worker has taken it over. */
  async extend(id: string, owner: string, until: number): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({ lease_until: until })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Marks the job done (or queues it again if it was re-enqueued while running). */
  async complete(id: string, owner: string, result: unknown, now: number): Promise<boolean> {
    const json = result === undefined ? null : JSON.stringify(result);
    // One statement, so an enqueue that sets rerun between two statements cannot be lost. A rerun
    // keeps the run_after its enqueue asked for (now, or a scheduled time).
    const done = await this.db
      .updateTable('jobs')
      .set({
        ...finished('succeeded', now),
        result: sql<string | null>`case when rerun = 1 then result else ${json} end`,
        last_error: null,
      })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(done.numUpdatedRows) === 1;
  }

  /** Records a failed attempt: retried at `retryAt`, or failed for good when none is given. */
  async fail(
    id: string,
    owner: string,
    error: string,
    now: number,
    retryAt: number | undefined,
  ): Promise<boolean> {
    const message = error.slice(0, 2000);
    const result = await this.db
      .updateTable('jobs')
      .set(
        retryAt === undefined
          ? {
              // Asked for again while it ran: that request still gets its run.
              ...finished('failed', now),
              last_error: message,
            }
          : {
              state: 'queued',
              last_error: message,
              run_after: retryAt,
              lease_owner: null,
              lease_until: 0,
              updated_at: now,
            },
      )
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async find(ex: Executor, key: string): Promise<JobView | undefined> {
    const row = await ex.selectFrom('jobs').selectAll().where('key', '=', key).executeTakeFirst();
    return row && view(fromRow(row));
  }

  /** Jobs per state, for /metrics. */
  async counts(): Promise<Record<JobsTable['state'], number>> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['state', (eb) => eb.fn.countAll<number | string>().as('count')])
      .groupBy('state')
      .execute();
    const counts = { queued: 0, running: 0, succeeded: 0, failed: 0 };
    for (const row of rows) counts[row.state] = Number(row.count);
    return counts;
  }

  /** When the next queued job is due (ms), if any. */
  async nextDue(): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.min('run_after').as('next'))
      .where('state', '=', 'queued')
      .executeTakeFirst();
    return row?.next === null || row?.next === undefined ? undefined : Number(row.next);
  }

  /** Forgets finished jobs older than `before`; returns how many. */
  async prune(before: number): Promise<number> {
    const result = await this.db
      .deleteFrom('jobs')
      .where('state', 'in', ['succeeded', 'failed'])
      .where('finished_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

/**
 * The columns that end a run as `final`, or queue it again when it was asked for meanwhile
 * (rerun = 1), decided by the database in the one statement that ends the run.
 */
function finished(final: 'succeeded' | 'failed', now: number) {
  return {
    state: sql<JobsTable['state']>`case when rerun = 1 then 'queued' else ${final} end`,
    attempts: sql<number>`case when rerun = 1 then 0 else attempts end`,
    finished_at: sql<number | null>`case when rerun = 1 then null else cast(${now} as bigint) end`,
    rerun: 0,
    lease_owner: null,
    lease_until: 0,
    updated_at: now,
  };
}

function view(row: JobsTable): JobView {
  return {
    id: row.id,
    kind: row.kind,
    key: row.key,
    state: row.state,
    attempts: row.attempts,
    lastError: row.last_error,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}
