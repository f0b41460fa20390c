// The delivery worker: at-least-once, in sequence order, per subscription, straight from the audit
// log. Each run claims due subscriptions (a lease, so replicas take turns), sends the events after
// each cursor one by one in CloudEvents HTTP binary mode and moves the cursor after every
// acknowledged event. A failure schedules the next attempt with exponential backoff and jitter;
// once failures have lasted the retry window the subscription is marked failing and waits — its
// events stay in the log (retention keeps them) until someone asks for a redelivery.
import { randomUUID } from 'node:crypto';
import { CloudEvent, HTTP } from 'cloudevents';
import type { AuditLog } from '../audit/audit-log.js';
import { SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { AuditEventsTable, EventSubscriptionsTable } from '../db/schema.js';
import type { DeliveryMetrics } from './metrics.js';
import type { SinkTransport } from './sink-client.js';
import type { SubscriptionStore } from './store.js';
import type { WebhookTokens } from './webhook-token.js';

export interface DeliverySettings {
  /** How long failures may last before the subscription is marked failing. */
  retryWindowMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** Subscriptions worked on at once by one server. */
  concurrency: number;
  /** Events read from the log per query. */
  batchSize: number;
  leaseMs: number;
  /** How often the worker looks for work when nothing nudged it. */
  pollMs: number;
}

export interface DeliveryRunResult {
  subscriptions: number;
  delivered: number;
  failed: number;
  markedFailing: number;
  errors: string[];
}

export class Deliverer {
  readonly owner = randomUUID();
  #timer: NodeJS.Timeout | undefined;
  /** When the pending timer fires (performance.now() milliseconds). */
  #timerDue = 0;
  #running: Promise<DeliveryRunResult> | undefined;
  #again = false;
  #stopped = true;
  /** No subscription exists: new events need no look (the poll and `wake` still do). */
  #idle = false;

  constructor(
    private readonly store: SubscriptionStore,
    private readonly audit: AuditLog,
    private readonly tokens: WebhookTokens,
    private readonly transport: SinkTransport,
    private readonly settings: DeliverySettings,
    private readonly metrics?: DeliveryMetrics,
    private readonly clock: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Something was committed: look soon rather than at the next poll. */
  nudge(): void {
    if (this.#stopped || this.#idle) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    // A run already due within 5 ms must not be pushed back by every new event: under a steady
    // stream of appends (one every 2 ms at 500 events/s) it would never fire.
    if (this.#timer && this.#timerDue <= performance.now() + 5) return;
    this.#schedule(5);
  }

  /** A subscription was created or rewound: look now even if none existed before. */
  wake(): void {
    this.#idle = false;
    this.nudge();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
    this.transport.close();
  }

  #schedule(delayMs: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerDue = performance.now() + delayMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.runOnce().finally(() => {
        if (this.#stopped) return;
        const again = this.#again;
        this.#again = false;
        this.#schedule(again ? 0 : this.settings.pollMs);
      });
    }, delayMs);
    this.#timer.unref();
  }

  /** One pass over the due subscriptions (the loop's body; tests call it directly). */
  runOnce(): Promise<DeliveryRunResult> {
    this.#running ??= this.#run().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #run(): Promise<DeliveryRunResult> {
    const result: DeliveryRunResult = {
      subscriptions: 0,
      delivered: 0,
      failed: 0,
      markedFailing: 0,
      errors: [],
    };
    let due: EventSubscriptionsTable[];
    try {
      due = await this.store.due(this.store.db, this.clock(), this.settings.concurrency * 4);
      this.#idle = due.length === 0 && !(await this.store.any(this.store.db));
    } catch (error) {
      result.errors.push(message(error));
      return result;
    }
    const queue = [...due];
    const worker = async () => {
      for (let subscription = queue.shift(); subscription; subscription = queue.shift()) {
        try {
          if (
            !(await this.store.claim(
              this.store.db,
              subscription.id,
              this.owner,
              this.clock(),
              this.settings.leaseMs,
            ))
          )
            continue;
          result.subscriptions += 1;
          try {
            await this.#deliver(subscription, result);
          } finally {
            await this.store.release(this.store.db, subscription.id, this.owner);
          }
        } catch (error) {
          result.errors.push(`${subscription.id}: ${message(error)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: this.settings.concurrency }, worker));
    return result;
  }

  async #deliver(subscription: EventSubscriptionsTable, result: DeliveryRunResult): Promise<void> {
    const started = this.clock();
    let cursor = subscription.cursor_seq;
    // Work for at most half the lease, then let the next run (maybe another server) continue.
    while (this.clock() - started < this.settings.leaseMs / 2) {
      // Every event up to the head is committed (the head moves in the same transaction), so
      // events at or below it that don't match can be skipped for good.
      const head = await this.audit.store.head(this.store.db);
      const rows = await this.store.pending(
        this.store.db,
        subscription,
        cursor,
        head.seq,
        this.settings.batchSize,
      );
      // The cursor moves once per batch (one write, not one per event): after a crash or a lost
      // lease at most one batch is sent again, which at-least-once delivery allows.
      let sent = 0;
      let last = cursor;
      let failure: string | undefined;
      let savedAt = this.clock();
      for (const row of rows) {
        failure = await this.#send(subscription, row);
        if (failure !== undefined) break;
        sent += 1;
        last = row.seq;
        this.metrics?.delivered(subscription.id, (this.clock() - row.time) / 1000);
        // A slow sink must not hold unsaved progress for long (the lease would run out first).
        if (this.clock() - savedAt > 1000) {
          if (
            !(await this.store.advance(this.store.db, subscription.id, this.owner, cursor, last, {
              count: sent,
              at: this.clock(),
            }))
          )
            return;
          result.delivered += sent;
          cursor = last;
          sent = 0;
          savedAt = this.clock();
        }
      }
      if (sent > 0) {
        const moved = await this.store.advance(this.store.db, subscription.id, this.owner, cursor, last, {
          count: sent,
          at: this.clock(),
        });
        if (!moved) return; // rewound by a redelivery, or our lease is gone: stop here
        cursor = last;
        result.delivered += sent;
      }
      if (failure !== undefined) {
        result.failed += 1;
        if (await this.#recordFailure(subscription, failure)) result.markedFailing += 1;
        return;
      }
      if (rows.length < this.settings.batchSize) {
        if (head.seq > cursor)
          await this.store.advance(this.store.db, subscription.id, this.owner, cursor, head.seq, undefined);
        return;
      }
    }
  }

  /** Sends one event; undefined when the sink acknowledged it, else why not. */
  async #send(subscription: EventSubscriptionsTable, row: AuditEventsTable): Promise<string | undefined> {
    try {
      const stored = JSON.parse(row.event) as Record<string, unknown>;
      // Receivers see where the event sits in the chain, to spot gaps and duplicates.
      const event = new CloudEvent({ ...stored, auditseq: row.seq }, false);
      const message = HTTP.binary(event);
      const token = await this.tokens.tokenFor(subscription.sink_url, subscription.org, this.clock());
      const response = await this.transport.send(
        subscription.sink_url,
        { ...(message.headers as Record<string, string | number>), authorization: `Bearer ${token}` },
        typeof message.body === 'string' ? message.body : JSON.stringify(message.body ?? null),
      );
      if (response.status >= 200 && response.status < 300) return undefined;
      this.metrics?.failed(subscription.id);
      return `sink answered HTTP ${response.status}`;
    } catch (error) {
      this.metrics?.failed(subscription.id);
      return message(error);
    }
  }

  /** Schedules the retry; true when this failure marked the subscription failing. */
  async #recordFailure(subscription: EventSubscriptionsTable, error: string): Promise<boolean> {
    const now = this.clock();
    const current = (await this.store.find(this.store.db, subscription.id)) ?? subscription;
    const attempts = current.attempts + 1;
    const failingSince = current.failing_since ?? now;
    const exhausted = now - failingSince >= this.settings.retryWindowMs;
    const nextAttemptAt = now + this.backoff(attempts);
    if (!exhausted) {
      await this.store.recordFailure(this.store.db, subscription.id, this.owner, {
        attempts,
        failingSince,
        at: now,
        nextAttemptAt,
        error,
        status: 'active',
      });
      return false;
    }
    // Giving up is a state change like any other: recorded with its reason, in one transaction
    // (and chained before this run reports back).
    const marked = await this.store.db.transaction().execute(async (trx) => {
      const marked = await this.store.recordFailure(trx, subscription.id, this.owner, {
        attempts,
        failingSince,
        at: now,
        nextAttemptAt,
        error,
        status: 'failing',
      });
      if (!marked) return false;
      await this.audit.record(trx, {
        type: 'dev.palisade.events.subscription.failing.v1',
        subject: `subscription:${subscription.id}`,
        ...(subscription.org ? { org: subscription.org } : {}),
        actor: SYSTEM_ACTOR,
        outcome: 'failure',
        body: {
          id: subscription.id,
          failing_since: new Date(failingSince).toISOString(),
          attempts,
          last_error: error,
          cursor_seq: current.cursor_seq,
        },
      });
      return true;
    });
    if (marked) await this.audit.settle();
    return marked;
  }

  /** Exponential backoff with "equal jitter": half fixed, half random, so retries spread out. */
  backoff(attempts: number): number {
    const ceiling = Math.min(
      this.settings.backoffMaxMs,
      this.settings.backoffInitialMs * 2 ** Math.min(attempts - 1, 30),
    );
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
