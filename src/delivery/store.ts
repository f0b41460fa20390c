// SQL for event subscriptions. The cursor and lease columns are updated with compare-and-set
// conditions, so a redelivery requested while a delivery is in flight wins, and two servers
// sharing a database never work on the same subscription at once.
import { sql, type Kysely, type Transaction } from 'kysely';
import { escapeLike } from '../audit/store.js';
import type { AuditEventsTable, Database, EventSubscriptionsTable } from '../db/schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

const numeric = [
  'created_at',
  'cursor_seq',
  'failing_since',
  'next_attempt_at',
  'last_attempt_at',
  'last_delivered_at',
  'delivered_total',
  'lease_until',
  'attempts',
] as const;

function fromRow(row: EventSubscriptionsTable): EventSubscriptionsTable {
  const out = { ...row } as Record<string, unknown>;
  for (const key of numeric) if (out[key] !== null && out[key] !== undefined) out[key] = Number(out[key]);
  return out as unknown as EventSubscriptionsTable;
}

export class SubscriptionStore {
  constructor(readonly db: Kysely<Database>) {}

  async insert(ex: Executor, row: EventSubscriptionsTable): Promise<void> {
    await ex.insertInto('event_subscriptions').values(row).execute();
  }

  async find(ex: Executor, id: string): Promise<EventSubscriptionsTable | undefined> {
    const row = await ex
      .selectFrom('event_subscriptions')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async list(ex: Executor, org?: string): Promise<EventSubscriptionsTable[]> {
    let query = ex.selectFrom('event_subscriptions').selectAll().orderBy('created_at').orderBy('id');
    if (org !== undefined) query = query.where('org', '=', org);
    return (await query.execute()).map(fromRow);
  }

  async any(ex: Executor): Promise<boolean> {
    return (
      (await ex.selectFrom('event_subscriptions').select('id').limit(1).executeTakeFirst()) !== undefined
    );
  }

  async delete(ex: Executor, id: string): Promise<boolean> {
    const result = await ex.deleteFrom('event_subscriptions').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Subscriptions due for an attempt whose lease is free (candidates; claim each with `claim`). */
  async due(ex: Executor, now: number, limit: number): Promise<EventSubscriptionsTable[]> {
    const rows = await ex
      .selectFrom('event_subscriptions')
      .selectAll()
      .where('status', '=', 'active')
      .where('next_attempt_at', '<=', now)
      .where('lease_until', '<', now)
      .orderBy('next_attempt_at')
      .limit(limit)
      .execute();
    return rows.map(fromRow);
  }

  async claim(ex: Executor, id: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    const result = await ex
      .updateTable('event_subscriptions')
      .set({ lease_owner: owner, lease_until: now + leaseMs })
      .where('id', '=', id)
      .where('lease_until', '<', now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async release(ex: Executor, id: string, owner: string): Promise<void> {
    await ex
      .updateTable('event_subscriptions')
      .set({ lease_owner: null, lease_until: 0 })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  /**
   * Moves the cursor from `from` to `to` if nobody else moved it (a redelivery) and the lease is
   * still ours; `delivered` counts toward the total. False when the move lost.
   */
  async advance(
    ex: Executor,
    id: string,
    owner: string,
    from: number,
    to: number,
    delivered: { count: number; at: number } | undefined,
  ): Promise<boolean> {
    const result = await ex
      .updateTable('event_subscriptions')
      .set({
        cursor_seq: to,
        ...(delivered
          ? {
              delivered_total: sql<number>`delivered_total + ${delivered.count}`,
              last_delivered_at: delivered.at,
              last_attempt_at: delivered.at,
              attempts: 0,
              failing_since: null,
              last_error: null,
            }
          : {}),
      })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('cursor_seq', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async recordFailure(
    ex: Executor,
    id: string,
    owner: string,
    failure: {
      attempts: number;
      failingSince: number;
      at: number;
      nextAttemptAt: number;
      error: string;
      status: 'active' | 'failing';
    },
  ): Promise<boolean> {
    const result = await ex
      .updateTable('event_subscriptions')
      .set({
        attempts: failure.attempts,
        failing_since: failure.failingSince,
        last_attempt_at: failure.at,
        next_attempt_at: failure.nextAttemptAt,
        last_error: failure.error.slice(0, 1000),
        status: failure.status,
      })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Starts again from `cursor` (the sequence number before the first to send), healthy and due now. */
  async rewind(ex: Executor, id: string, cursor: number): Promise<void> {
    await ex
      .updateTable('event_subscriptions')
      .set({
        cursor_seq: cursor,
        status: 'active',
        attempts: 0,
        failing_since: null,
        next_attempt_at: 0,
        last_error: null,
      })
      .where('id', '=', id)
      .execute();
  }

  /** Events after `afterSeq` through `throughSeq` that the subscription wants, in order. */
  async pending(
    ex: Executor,
    subscription: Wanted,
    afterSeq: number,
    throughSeq: number,
    limit: number,
  ): Promise<AuditEventsTable[]> {
    const rows = await wanted(ex, subscription, afterSeq)
      .where('seq', '<=', throughSeq)
      .selectAll()
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...r, seq: Number(r.seq), time: Number(r.time) }));
  }

  /** How many wanted events wait after `afterSeq` (counted up to `cap`), and the oldest one's time. */
  async lag(
    ex: Executor,
    subscription: Wanted,
    afterSeq: number,
    cap: number,
  ): Promise<{ events: number; oldest: number | undefined }> {
    const rows = await wanted(ex, subscription, afterSeq)
      .select(['seq', 'time'])
      .orderBy('seq')
      .limit(cap)
      .execute();
    return { events: rows.length, oldest: rows[0] ? Number(rows[0].time) : undefined };
  }

  /** The lowest cursor of any subscription: retention keeps everything after it. */
  async lowestCursor(ex: Executor): Promise<number | undefined> {
    const row = await ex
      .selectFrom('event_subscriptions')
      .select((eb) => eb.fn.min('cursor_seq').as('cursor'))
      .executeTakeFirst();
    return row?.cursor === null || row?.cursor === undefined ? undefined : Number(row.cursor);
  }
}

type Wanted = Pick<EventSubscriptionsTable, 'org' | 'types'>;

/** The audit events after `afterSeq` of the subscription's organization and type prefixes. */
function wanted(ex: Executor, subscription: Wanted, afterSeq: number) {
  let query = ex.selectFrom('audit_events').where('seq', '>', afterSeq);
  if (subscription.org !== null) query = query.where('org', '=', subscription.org);
  const types = JSON.parse(subscription.types) as string[];
  if (types.length > 0) {
    query = query.where((eb) => eb.or(types.map((prefix) => eb('type', 'like', `${escapeLike(prefix)}%`))));
  }
  return query;
}
