// SQL for the audit log. Appends take the chain head row under a lock (FOR UPDATE on PostgreSQL;
// SQLite runs one write transaction at a time anyway), so sequence numbers and hashes are
// assigned in commit order inside the transaction that makes the change.
import type { Kysely, Transaction } from 'kysely';
import type { Dialect } from '../db/dialect.js';
import type { AuditAnchorTable, AuditCheckpointsTable, AuditEventsTable, Database } from '../db/schema.js';

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

export class AuditStore {
  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
  ) {}

  async lockHead(trx: Transaction<Database>): Promise<{ seq: number; hash: string }> {
    let query = trx.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1);
    if (this.dialect === 'postgres') query = query.forUpdate();
    const head = await query.executeTakeFirstOrThrow();
    return { seq: Number(head.seq), hash: head.hash };
  }

  async appendMany(trx: Transaction<Database>, rows: AuditEventsTable[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 100) {
      await trx
        .insertInto('audit_events')
        .values(rows.slice(i, i + 100))
        .execute();
    }
    const last = rows[rows.length - 1]!;
    await trx.updateTable('audit_head').set({ seq: last.seq, hash: last.hash }).where('id', '=', 1).execute();
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
    let query = ex.selectFrom('audit_events').selectAll().orderBy('seq').limit(limit);
    if (filter.afterSeq !== undefined) query = query.where('seq', '>', filter.afterSeq);
    if (filter.since !== undefined) query = query.where('time', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('time', '<', filter.until);
    if (filter.typePrefix) query = query.where('type', 'like', `${escapeLike(filter.typePrefix)}%`);
    if (filter.actor) query = query.where('actor', '=', filter.actor);
    if (filter.subject) query = query.where('subject', '=', filter.subject);
    if (filter.org) query = query.where('org', '=', filter.org);
    const rows = await query.execute();
    return rows.map((r) => ({ ...r, seq: Number(r.seq), time: Number(r.time) }));
  }
}

/** LIKE patterns are bound values too; only the wildcards inside a prefix need escaping. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}
