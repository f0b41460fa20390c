// Subscriptions: an organization's (or, for administrators, the whole log's) wish to receive events
// at a sink URL, optionally only some types. Creating one checks the sink against the sink policy
// — including what its name resolves to now — and starts it at the current head, so it receives
// what happens from then on (or from an earlier sequence number it names). Every change here is
// an audit event written in the same transaction, and status views report lag.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import type { EventSubscriptionsTable } from '../db/schema.js';
import { ORGANIZATION } from '../identity/iam.js';
import { PeopleError } from '../identity/people-errors.js';
import {
  checkSinkAddresses,
  checkSinkUrl,
  SinkRefused,
  MAX_SINK_URL_LENGTH,
  type SinkPolicy,
} from './sink-url.js';
import type { SubscriptionStore } from './store.js';

const TYPE_PREFIX = /^[a-z0-9.-]{1,200}$/;
/** Lag is counted up to this many events (beyond it the exact number matters less than the alarm). */
export const LAG_COUNT_CAP = 100_000;

export const newSubscriptionSchema = z
  .object({
    org: z.string().max(255).regex(ORGANIZATION, 'one lowercase path component, e.g. acme').optional(),
    sink_url: z.string().min(1).max(MAX_SINK_URL_LENGTH),
    types: z
      .array(z.string().regex(TYPE_PREFIX, 'a type prefix such as dev.palisade.registry.'))
      .max(20)
      .default([]),
    description: z.string().max(500).optional(),
    /** Start after this sequence number instead of at the current head (replay history). */
    from_seq: z.number().int().min(1).optional(),
  })
  .strict();

export const redeliverSchema = z.object({ from_seq: z.number().int().min(1).optional() }).strict();

export type NewSubscription = z.infer<typeof newSubscriptionSchema>;

export interface SubscriptionView {
  id: string;
  org: string | null;
  sink_url: string;
  types: string[];
  description: string | null;
  created_at: string;
  created_by: string;
  status: 'active' | 'failing';
  cursor_seq: number;
  delivered_total: number;
  lag: { events: number; seconds: number; head_seq: number };
  attempts: number;
  failing_since: string | null;
  next_attempt_at: string | null;
  last_error: string | null;
  last_attempt_at: string | null;
  last_delivered_at: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export class SubscriptionService {
  constructor(
    readonly store: SubscriptionStore,
    private readonly audit: AuditLog,
    readonly policy: SinkPolicy,
    /** Called after a change that gives the worker something to do. */
    private readonly nudge: () => void = () => undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  async create(input: NewSubscription, createdBy: string): Promise<SubscriptionView> {
    const url = await this.#checkSink(input.sink_url);
    const now = this.clock();
    const id = randomUUID();
    // A new subscription starts after the chain head: events already committed are chained
    // first (PostgreSQL chains after commit), so they do not land after its cursor.
    await this.audit.settle();
    const row = await this.store.db.transaction().execute(async (trx) => {
      const head = await this.audit.store.head(trx);
      const row: EventSubscriptionsTable = {
        id,
        org: input.org ?? null,
        sink_url: url,
        types: JSON.stringify(input.types),
        description: input.description ?? null,
        created_at: now,
        created_by: createdBy,
        cursor_seq: input.from_seq !== undefined ? Math.min(input.from_seq - 1, head.seq) : head.seq,
        status: 'active',
        failing_since: null,
        attempts: 0,
        next_attempt_at: 0,
        last_error: null,
        last_attempt_at: null,
        last_delivered_at: null,
        delivered_total: 0,
        lease_owner: null,
        lease_until: 0,
      };
      await this.store.insert(trx, row);
      await this.audit.record(trx, {
        type: 'dev.palisade.events.subscription.created.v1',
        subject: `subscription:${id}`,
        ...(row.org ? { org: row.org } : {}),
        body: describe(row),
      });
      return row;
    });
    this.nudge();
    return this.view(row);
  }

  async list(org?: string): Promise<SubscriptionView[]> {
    const rows = await this.store.list(this.store.db, org);
    return Promise.all(rows.map((row) => this.view(row)));
  }

  async get(id: string): Promise<SubscriptionView> {
    return this.view(await this.#find(id));
  }

  async delete(id: string): Promise<void> {
    await this.store.db.transaction().execute(async (trx) => {
      const row = await this.store.find(trx, id);
      if (!row || !(await this.store.delete(trx, id))) throw notFound(id);
      await this.audit.record(trx, {
        type: 'dev.palisade.events.subscription.deleted.v1',
        subject: `subscription:${id}`,
        ...(row.org ? { org: row.org } : {}),
        body: { before: describe(row), undelivered_after_seq: row.cursor_seq },
      });
    });
  }

  /**
   * Sends again from `fromSeq` (or resumes a failing subscription where it stopped). The log may
   * have been pruned below `fromSeq`: delivery then starts at the oldest retained event.
   */
  async redeliver(id: string, fromSeq?: number): Promise<SubscriptionView> {
    const row = await this.store.db.transaction().execute(async (trx) => {
      const row = await this.store.find(trx, id);
      if (!row) throw notFound(id);
      const head = await this.audit.store.head(trx);
      const cursor = fromSeq !== undefined ? Math.min(fromSeq - 1, head.seq) : row.cursor_seq;
      await this.store.rewind(trx, id, cursor);
      await this.audit.record(trx, {
        type: 'dev.palisade.events.subscription.redelivered.v1',
        subject: `subscription:${id}`,
        ...(row.org ? { org: row.org } : {}),
        body: {
          id,
          before: { status: row.status, cursor_seq: row.cursor_seq },
          after: { status: 'active', cursor_seq: cursor },
        },
      });
      return { ...row, cursor_seq: cursor, status: 'active' as const, attempts: 0, failing_since: null };
    });
    this.nudge();
    return this.view(row);
  }

  /** The organization a subscription belongs to (for authorisation), if it exists. */
  async organizationOf(id: string): Promise<{ found: boolean; org: string | null }> {
    const row = await this.store.find(this.store.db, id);
    return { found: row !== undefined, org: row?.org ?? null };
  }

  async view(row: EventSubscriptionsTable): Promise<SubscriptionView> {
    const head = await this.audit.store.head(this.store.db);
    const lag = await this.store.lag(this.store.db, row, row.cursor_seq, LAG_COUNT_CAP);
    return {
      id: row.id,
      org: row.org,
      sink_url: row.sink_url,
      types: JSON.parse(row.types) as string[],
      description: row.description,
      created_at: iso(row.created_at)!,
      created_by: row.created_by,
      status: row.status,
      cursor_seq: row.cursor_seq,
      delivered_total: row.delivered_total,
      lag: {
        events: lag.events,
        seconds: lag.oldest === undefined ? 0 : Math.max(0, (this.clock() - lag.oldest) / 1000),
        head_seq: head.seq,
      },
      attempts: row.attempts,
      failing_since: iso(row.failing_since),
      next_attempt_at: row.attempts > 0 && row.status === 'active' ? iso(row.next_attempt_at) : null,
      last_error: row.last_error,
      last_attempt_at: iso(row.last_attempt_at),
      last_delivered_at: iso(row.last_delivered_at),
    };
  }

  async #checkSink(raw: string): Promise<string> {
    try {
      const url = checkSinkUrl(raw, this.policy);
      await checkSinkAddresses(url, this.policy);
      return url.href;
    } catch (error) {
      if (error instanceof SinkRefused)
        throw new PeopleError('PALISADE_BAD_REQUEST', `sink_url ${error.message}`);
      throw error;
    }
  }

  async #find(id: string): Promise<EventSubscriptionsTable> {
    const row = await this.store.find(this.store.db, id);
    if (!row) throw notFound(id);
    return row;
  }
}

/** What events say about a subscription: its settings, never delivery credentials (it has none). */
function describe(row: EventSubscriptionsTable) {
  return {
    id: row.id,
    org: row.org,
    sink_url: withoutQueryValues(row.sink_url),
    types: JSON.parse(row.types) as string[],
    description: row.description,
    cursor_seq: row.cursor_seq,
  };
}

/** A query string may carry a receiver's own secret: events keep its names, not its values. */
function withoutQueryValues(sinkUrl: string): string {
  const url = new URL(sinkUrl);
  for (const key of [...url.searchParams.keys()]) url.searchParams.set(key, 'redacted');
  return url.href;
}

function notFound(id: string): PeopleError {
  return new PeopleError('PALISADE_NOT_FOUND', `no event subscription ${id}`);
}
