// SQL for the audit log. Appends take the chain head row under a lock (FOR UPDATE on PostgreSQL;
// SQLite runs one write transaction at a time anyway), so sequence numbers and hashes follow
// commit order: on SQLite inside the transaction that makes the change, on PostgreSQL in the
// chainer's transaction right after it, from the outbox that change wrote to.
import { CompiledQuery, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Dialect } from '../db/dialect.js';
import type { DatabaseHandle } from '../db/database.js';
import type { ChainRow } from './chain.js';
import type {
  AuditAnchorTable,
  AuditCheckpointsTable,
  AuditEventsTable,
  AuditOutboxTable,
  Database,
} from '../db/schema.js';

export type Executor = Kysely<Database> | Transaction<Database>;

export interface EventFilter {
  afterSeq?: number;
  since?: number;
  until?: number;
  typePrefix?: string;
  actor?: string;
  subject?: string;
  org?: string;
}

const EVENT_COLUMNS = [
  'seq',
  'id',
  'type',
  'subject',
  'org',
  'actor',
  'time',
  'event',
  'prev_hash',
  'hash',
] as const;

/**
 * Events have no index on `time`: each id is a UUIDv7 whose first 48 bits are the event's time in
 * milliseconds (ids made before that was exact were made at or just after their event's time), so
 * the id index answers time ranges. Lowercase hex ids order the same by code point and in every
 * collation we run on (the hyphens stand at the same places in all of them).
 */
export function uuidv7Floor(ms: number): string {
  const hex = Math.max(0, Math.min(ms, 2 ** 48 - 1))
    .toString(16)
    .padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8)}`;
}

/** How much later than its `time` an event's id may be (ids made before they carried it exactly). */
const ID_TIME_SLACK_MS = 3_600_000;

const OUTBOX_COLUMNS = ['id', 'type', 'subject', 'org', 'actor', 'time', 'event'] as const;

/** An outbox row as read back: its arrival number and the event's columns. */
type AuditOutboxRow = Selectable<AuditOutboxTable>;

/** The bound values of rows, in EVENT_COLUMNS order. */
function paramsOf(rows: readonly AuditEventsTable[]): unknown[] {
  const params: unknown[] = [];
  for (const row of rows) {
    params.push(
      row.seq,
      row.id,
      row.type,
      row.subject,
      row.org,
      row.actor,
      row.time,
      row.event,
      row.prev_hash,
      row.hash,
    );
  }
  return params;
}

/** What the append needs of a better-sqlite3 statement. */
interface SqliteStatement {
  get(...params: unknown[]): unknown;
  run(...params: unknown[]): unknown;
}

export class AuditStore {
  private readonly statements?: (text: string) => SqliteStatement;
  /** Runs a listener after each transaction that wrote to the outbox (DatabaseHandle.afterCommitOf). */
  readonly afterOutboxCommit?: (listener: () => Promise<void>) => void;

  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    options: {
      /** SQLite's prepared statements (DatabaseHandle.statements): appends then run without a wait. */
      statements?: ((text: string) => SqliteStatement) | undefined;
      afterOutboxCommit?: ((listener: () => Promise<void>) => void) | undefined;
    } = {},
  ) {
    this.statements = options.statements;
    this.afterOutboxCommit = options.afterOutboxCommit;
  }

  /** The store a database handle's own audit log uses. */
  static of(handle: DatabaseHandle): AuditStore {
    return new AuditStore(handle.db, handle.dialect, {
      statements: handle.statements,
      afterOutboxCommit: (listener) => handle.afterCommitOf('audit_outbox', listener),
    });
  }

  /**
   * On PostgreSQL a change's events go to the outbox and are chained after its commit (a head
   * lock held through every commit would make concurrent changes commit one at a time). SQLite
   * has one writer at a time anyway and chains in the transaction.
   */
  get chainsAfterCommit(): boolean {
    return this.dialect === 'postgres';
  }

  /** Writes a change's events to the outbox, in its transaction (parameterised SQL made once per row count). */
  async enqueue(trx: Transaction<Database>, rows: Omit<AuditOutboxTable, 'n'>[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 100) {
      const chunk = rows.slice(i, i + 100);
      const params: unknown[] = [];
      for (const row of chunk) {
        params.push(row.id, row.type, row.subject, row.org, row.actor, row.time, row.event);
      }
      await trx.executeQuery(CompiledQuery.raw(this.#outboxInsertSql(chunk.length), params));
    }
  }

  readonly #outboxInsertText = new Map<number, string>();

  #outboxInsertSql(count: number): string {
    let text = this.#outboxInsertText.get(count);
    if (text) return text;
    const values: string[] = [];
    for (let r = 0; r < count; r += 1) {
      values.push(`(${this.#placeholders(OUTBOX_COLUMNS.length, r * OUTBOX_COLUMNS.length).join(', ')})`);
    }
    // Quoted as Kysely writes it: the database handle spots outbox inserts by this text and chains
    // the events once the transaction has committed (DatabaseHandle.afterCommitOf).
    text = `insert into "audit_outbox" (${OUTBOX_COLUMNS.join(', ')}) values ${values.join(', ')}`;
    this.#outboxInsertText.set(count, text);
    return text;
  }

  /**
   * Takes the oldest waiting events out of the outbox (committed ones only: the caller's
   * transaction sees no others), in arrival order; the caller holds the head lock.
   */
  async takeOutbox(trx: Transaction<Database>, limit: number): Promise<AuditOutboxRow[]> {
    const [limitParam] = this.#placeholders(1);
    const { rows } = await trx.executeQuery<AuditOutboxRow>(
      CompiledQuery.raw(
        `delete from audit_outbox where n in (select n from audit_outbox order by n limit ${limitParam}) ` +
          `returning n, ${OUTBOX_COLUMNS.join(', ')}`,
        [limit],
      ),
    );
    for (const row of rows) {
      row.n = Number(row.n);
      row.time = Number(row.time);
    }
    return rows.sort((a, b) => a.n - b.n);
  }

  /**
   * Appends the rows `chain` makes from the current head, under the head's lock, in the caller's
   * transaction. On SQLite the three statements run at once, synchronously (the transaction holds
   * the only connection, so they are part of it); the result is then undefined.
   */
  append(
    trx: Transaction<Database>,
    chain: (head: { seq: number; hash: string }) => AuditEventsTable[],
  ): Promise<void> | undefined {
    if (!this.statements) {
      return this.lockHead(trx).then((head) => this.appendMany(trx, chain(head)));
    }
    const head = this.statements('select seq, hash from audit_head where id = 1').get() as
      { seq: number; hash: string } | undefined;
    if (!head) throw new Error('the audit chain head is missing');
    const rows = chain({ seq: Number(head.seq), hash: head.hash });
    for (let i = 0; i < rows.length; i += 100) {
      const chunk = rows.slice(i, i + 100);
      this.statements(this.#insertSql(chunk.length, false)).run(...paramsOf(chunk));
    }
    const tail = rows[rows.length - 1];
    if (tail) {
      this.statements('update audit_head set seq = ?, hash = ? where id = 1').run(tail.seq, tail.hash);
    }
    return undefined;
  }

  // The append path runs inside every change, so its SQL is written once per shape and sent as
  // is (parameterised; Kysely's builder costs more than SQLite takes to run these statements).
  readonly #insertText = new Map<number, string>();

  #placeholders(count: number, from = 0): string[] {
    return Array.from({ length: count }, (_, i) => (this.dialect === 'postgres' ? `$${from + i + 1}` : '?'));
  }

  async lockHead(trx: Transaction<Database>): Promise<{ seq: number; hash: string }> {
    const text =
      this.dialect === 'postgres'
        ? 'select seq, hash from audit_head where id = 1 for update'
        : 'select seq, hash from audit_head where id = 1';
    const { rows } = await trx.executeQuery<{ seq: number | string; hash: string }>(
      CompiledQuery.raw(text, []),
    );
    const head = rows[0];
    if (!head) throw new Error('the audit chain head is missing');
    return { seq: Number(head.seq), hash: head.hash };
  }

  /** Inserts rows (in sequence order) and moves the chain head to the last one. */
  async appendMany(trx: Transaction<Database>, rows: AuditEventsTable[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 100) {
      const chunk = rows.slice(i, i + 100);
      const last = i + 100 >= rows.length;
      const params = paramsOf(chunk);
      const tail = rows[rows.length - 1]!;
      if (last && this.dialect === 'postgres') {
        // One round trip: the insert and the head update in one statement.
        params.push(tail.seq, tail.hash);
        await trx.executeQuery(CompiledQuery.raw(this.#insertSql(chunk.length, true), params));
        return;
      }
      await trx.executeQuery(CompiledQuery.raw(this.#insertSql(chunk.length, false), params));
      if (last) {
        await trx.executeQuery(
          CompiledQuery.raw('update audit_head set seq = ?, hash = ? where id = 1', [tail.seq, tail.hash]),
        );
      }
    }
  }

  #insertSql(count: number, withHead: boolean): string {
    const key = withHead ? -count : count;
    let text = this.#insertText.get(key);
    if (text) return text;
    const values: string[] = [];
    for (let r = 0; r < count; r += 1) {
      values.push(`(${this.#placeholders(EVENT_COLUMNS.length, r * EVENT_COLUMNS.length).join(', ')})`);
    }
    text = `insert into audit_events (${EVENT_COLUMNS.join(', ')}) values ${values.join(', ')}`;
    if (withHead) {
      const [seq, hash] = this.#placeholders(2, count * EVENT_COLUMNS.length);
      text = `with appended as (${text}) update audit_head set seq = ${seq}, hash = ${hash} where id = 1`;
    }
    this.#insertText.set(key, text);
    return text;
  }

  head(ex: Executor): Promise<{ seq: number; hash: string }> {
    return ex
      .selectFrom('audit_head')
      .select(['seq', 'hash'])
      .where('id', '=', 1)
      .executeTakeFirstOrThrow()
      .then((h) => ({ seq: Number(h.seq), hash: h.hash }));
  }

  async latestCheckpoint(ex: Executor): Promise<AuditCheckpointsTable | undefined> {
    const row = await ex
      .selectFrom('audit_checkpoints')
      .selectAll()
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && { ...row, seq: Number(row.seq), created_at: Number(row.created_at) };
  }

  async insertCheckpoint(ex: Executor, row: AuditCheckpointsTable): Promise<void> {
    await ex
      .insertInto('audit_checkpoints')
      .values(row)
      .onConflict((oc) => oc.column('seq').doNothing())
      .execute();
  }

  async checkpoints(ex: Executor, afterSeq: number, limit: number): Promise<AuditCheckpointsTable[]> {
    const rows = await ex
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...r, seq: Number(r.seq), created_at: Number(r.created_at) }));
  }

  async anchor(ex: Executor): Promise<AuditAnchorTable | undefined> {
    const row = await ex.selectFrom('audit_anchor').selectAll().where('id', '=', 1).executeTakeFirst();
    return row && { ...row, seq: Number(row.seq), created_at: Number(row.created_at) };
  }

  /** The last sequence number of the prefix older than `cutoff`, if any. */
  async lastSeqBefore(ex: Executor, cutoff: number): Promise<number | undefined> {
    const row = await ex
      .selectFrom('audit_events')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .where('id', '<', uuidv7Floor(cutoff + ID_TIME_SLACK_MS))
      .where('time', '<', cutoff)
      .executeTakeFirst();
    return row?.seq === null || row?.seq === undefined ? undefined : Number(row.seq);
  }

  async eventAt(ex: Executor, seq: number): Promise<AuditEventsTable | undefined> {
    return ex.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirst();
  }

  /** Deletes the prefix through `seq` and moves the anchor there, in the caller's transaction. */
  async prune(trx: Transaction<Database>, anchor: Omit<AuditAnchorTable, 'id'>): Promise<number> {
    const result = await trx.deleteFrom('audit_events').where('seq', '<=', anchor.seq).executeTakeFirst();
    await trx.deleteFrom('audit_checkpoints').where('seq', '<', anchor.seq).execute();
    await trx.deleteFrom('audit_anchor').execute();
    await trx
      .insertInto('audit_anchor')
      .values({ id: 1, ...anchor })
      .execute();
    return Number(result.numDeletedRows);
  }

  /** The chain's columns only, in sequence order, for afterSeq < seq ≤ throughSeq (verification). */
  async chainRows(ex: Executor, afterSeq: number, throughSeq: number) {
    const rows = await ex
      .selectFrom('audit_events')
      .select(['seq', 'prev_hash', 'hash', 'event'])
      .where('seq', '>', afterSeq)
      .where('seq', '<=', throughSeq)
      .orderBy('seq')
      .execute();
    // In place: verification reads every row of the log, and a copy per row is most of its cost.
    for (const row of rows) row.seq = Number(row.seq);
    return rows as ((typeof rows)[number] & { seq: number })[];
  }

  /** Events in sequence order, keyset-paged after `afterSeq`. */
  async list(ex: Executor, filter: EventFilter, limit: number): Promise<AuditEventsTable[]> {
    const rows = await this.#filtered(ex, filter, limit).selectAll().execute();
    return rows.map((r) => ({ ...r, seq: Number(r.seq), time: Number(r.time) }));
  }

  /** The chain columns of the events `list` would return (an export needs no more). */
  async exportPage(ex: Executor, filter: EventFilter, limit: number): Promise<ChainRow[]> {
    const rows = await this.#filtered(ex, filter, limit)
      .select(['seq', 'prev_hash', 'hash', 'event'])
      .execute();
    for (const row of rows) row.seq = Number(row.seq);
    return rows;
  }

  #filtered(ex: Executor, filter: EventFilter, limit: number) {
    let query = ex.selectFrom('audit_events').orderBy('seq').limit(limit);
    if (filter.afterSeq !== undefined) query = query.where('seq', '>', filter.afterSeq);
    // Time ranges are found through the id index (an event's UUIDv7 id carries its time), then
    // checked exactly against `time`.
    if (filter.since !== undefined) {
      query = query.where('id', '>=', uuidv7Floor(filter.since)).where('time', '>=', filter.since);
    }
    if (filter.until !== undefined) {
      query = query
        .where('id', '<', uuidv7Floor(filter.until + ID_TIME_SLACK_MS))
        .where('time', '<', filter.until);
    }
    if (filter.typePrefix) query = query.where('type', 'like', `${escapeLike(filter.typePrefix)}%`);
    if (filter.actor) query = query.where('actor', '=', filter.actor);
    if (filter.subject) query = query.where('subject', '=', filter.subject);
    if (filter.org) query = query.where('org', '=', filter.org);
    return query;
  }
}

/** LIKE patterns are bound values too; only the wildcards inside a prefix need escaping. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}
