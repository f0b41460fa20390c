// Recording: every change becomes a CloudEvent 1.0 (in its structured JSON form) written inside
// the caller's transaction — no change without its event, no event without its change — and
// numbered into the hash chain: in that transaction on SQLite (one writer at a time), and on
// PostgreSQL by a chainer right after the commit, from an outbox, so that concurrent changes do
// not wait for each other's commits on the chain head's lock. The actor comes from the request
// scope: the principal's subject and kind, and the claims of the original identity (issuer,
// subject, audience, amr, acr). Secrets never enter an event: callers pass resource
// descriptions, and tokens are not resources.
import type { Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import type { AuditEventsTable, AuditOutboxTable, Database } from '../db/schema.js';
import type { Principal } from '../identity/authorizer.js';
import type { Authentication } from '../identity/tokens.js';
import { hashCanonical } from './chain.js';
import { withCanonicalText } from '../lib/canonical-json.js';
import { currentScope } from './context.js';
import { eventText } from './event-text.js';
import type { AuditStore } from './store.js';

export interface AuditActor {
  subject: string;
  kind: 'user' | 'workload' | 'system' | 'anonymous';
  act: Record<string, unknown>;
}

export interface AuditInput {
  /** dev.palisade.<area>.<resource>.<verb>.v1 */
  type: string;
  /** The resource, e.g. "acme/app@sha256:…" or "user:<id>". */
  subject?: string;
  org?: string;
  outcome?: 'success' | 'failure';
  /** The resource (before/after for updates); never a secret. */
  body?: unknown;
  /** Overrides the request's actor (host-local commands, background jobs). */
  actor?: AuditActor;
  /** The request and path, when the event is written after its request's scope has ended. */
  request?: { id: string; ip: string; user_agent: string | null };
  path?: string;
  /** When it happened, if earlier than now (batched reads). */
  time?: number;
}

/** What services need: record an event in the transaction that makes the change. */
export interface AuditRecorder {
  record(trx: Transaction<Database>, input: AuditInput): Promise<void>;
  /** Several events of one change, appended under one lock of the chain head. */
  recordMany(trx: Transaction<Database>, inputs: AuditInput[]): Promise<void>;
  /** For events that accompany no change (refusals, reads): their own transaction. */
  recordAlone(input: AuditInput): Promise<void>;
}

export const SYSTEM_ACTOR: AuditActor = withCanonicalText({
  subject: 'system:palisade',
  kind: 'system',
  act: {},
});
export const ANONYMOUS_ACTOR: AuditActor = withCanonicalText({
  subject: 'anonymous',
  kind: 'anonymous',
  act: {},
});

const TYPE = /^dev\.palisade\.[a-z]+(\.[a-z-]+)+\.v\d+$/;

/** An event ready to append: built (and stamped) when it was recorded. */
interface Built {
  input: AuditInput;
  /** The CloudEvent's RFC 8785 canonical JSON. */
  canonical: string;
  actor: AuditActor;
  now: number;
  id: string;
}

/** At most this many events share one group commit. */
const GROUP_COMMIT_MAX = 500;

/** Events chained per transaction of the chainer. */
const CHAIN_BATCH = 1000;

export class AuditLog implements AuditRecorder {
  readonly #appended: (() => void)[] = [];
  readonly #chainErrors: ((error: Error) => void)[] = [];
  #chaining: Promise<void> | undefined;
  #chainingNext: Promise<void> | undefined;
  #sweep: NodeJS.Timeout | undefined;
  readonly #pending: { built: Built; resolve: () => void; reject: (error: Error) => void }[] = [];
  #flushScheduled = false;
  /**
   * Off only in benchmarks measuring what auditing costs (bench/audit.bench.ts). Not a setting:
   * no configuration reaches it, so a deployment cannot run without its log.
   */
  recording = true;

  constructor(
    readonly store: AuditStore,
    /** Palisade's public URL; an event's `source` is it plus the API path. */
    private readonly origin: () => string,
  ) {
    // A transaction that wrote events to the outbox is over for its caller once they are
    // chained: whoever committed a change — a request, a job, a command — finds its events in
    // the log (runs are shared, so concurrent commits are chained together).
    if (store.chainsAfterCommit) {
      store.afterOutboxCommit?.(() => this.settle().catch((error: unknown) => this.#report(error)));
    }
  }

  /**
   * Called after events were appended (before their transaction commits: listeners must look
   * again later rather than expect to see them at once).
   */
  onAppend(listener: () => void): void {
    this.#appended.push(listener);
  }

  /**
   * Records an event in a transaction of its own, resolving once it is committed. Calls that
   * arrive in the same turn of the event loop share one transaction (group commit): under load —
   * token issuance, exchanges, sign-ins — one head lock and one commit serve many events.
   */
  recordAlone(input: AuditInput): Promise<void> {
    if (!this.recording) return Promise.resolve();
    let built: Built;
    try {
      built = this.#build(input); // now, in the caller's scope (actor, request)
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ built, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending.splice(0, GROUP_COMMIT_MAX);
    try {
      await this.store.db.transaction().execute((trx) =>
        this.#append(
          trx,
          batch.map((p) => p.built),
          true,
        ),
      );
      for (const p of batch) p.resolve();
    } catch (error) {
      if (batch.length === 1) batch[0]!.reject(error as Error);
      // One failing event must not take the others down with it: each on its own.
      else {
        for (const p of batch) {
          await this.store.db
            .transaction()
            .execute((trx) => this.#append(trx, [p.built], true))
            .then(p.resolve, p.reject);
        }
      }
    } finally {
      if (this.#pending.length > 0) setImmediate(() => void this.#flush());
      else this.#flushScheduled = false;
    }
  }

  /**
   * Events that accompany no change, in a transaction of their own that appends them under the
   * head lock at once (batched pulls): resolves once they are committed and chained.
   */
  async recordBatch(inputs: AuditInput[]): Promise<void> {
    if (inputs.length === 0 || !this.recording) return;
    const built = inputs.map((input) => this.#build(input));
    await this.store.db.transaction().execute((trx) => this.#append(trx, built, true));
  }

  record(trx: Transaction<Database>, input: AuditInput): Promise<void> {
    return this.recordMany(trx, [input]);
  }

  /**
   * Records a change's events, in order, in its transaction: chained there under one lock of the
   * chain head on SQLite, written to the outbox and chained right after the commit on PostgreSQL.
   */
  async recordMany(trx: Transaction<Database>, inputs: AuditInput[]): Promise<void> {
    if (inputs.length === 0 || !this.recording) return;
    await this.#append(
      trx,
      inputs.map((input) => this.#build(input)),
    );
  }

  /**
   * Writes a change's events in its transaction. On PostgreSQL (store.chainsAfterCommit) they go
   * to the outbox and are chained after the commit, unless `inline` (events recorded alone,
   * whose own small transaction takes the head lock itself).
   */
  async #append(trx: Transaction<Database>, built: Built[], inline = false): Promise<void> {
    const rows = built.map(toOutboxRow);
    if (this.store.chainsAfterCommit && !inline) {
      await this.store.enqueue(trx, rows);
      return;
    }
    const pending = this.store.append(trx, (head) => chained(head, rows));
    if (pending) await pending;
    for (const listener of this.#appended) listener();
  }

  /**
   * Chains every event committed to the outbox so far (PostgreSQL): resolves after a chaining
   * run that started after this call. Requests that recorded events wait for it before they
   * answer, so a client that saw its change succeed finds its events in the log.
   */
  settle(): Promise<void> {
    if (!this.store.chainsAfterCommit) return Promise.resolve();
    if (!this.#chaining) return this.#startChaining();
    // The run under way may have started before this caller's events were committed.
    this.#chainingNext ??= this.#chaining
      .catch(() => undefined)
      .then(() => {
        this.#chainingNext = undefined;
        return this.#startChaining();
      });
    return this.#chainingNext;
  }

  /** Chains the outbox every `intervalMs` too: events of other replicas, or of a process that stopped. */
  startSweeping(intervalMs = 1000): void {
    if (!this.store.chainsAfterCommit || this.#sweep) return;
    this.#sweep = setInterval(() => this.#kick(), intervalMs);
    this.#sweep.unref();
  }

  stopSweeping(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  /** Called when a background chaining run fails (the events wait in the outbox for the next). */
  onChainError(listener: (error: Error) => void): void {
    this.#chainErrors.push(listener);
  }

  #kick(): void {
    this.settle().catch((error: unknown) => this.#report(error));
  }

  #report(error: unknown): void {
    for (const listener of this.#chainErrors)
      listener(error instanceof Error ? error : new Error(String(error)));
  }

  #startChaining(): Promise<void> {
    const run = this.#chainOutbox().finally(() => {
      if (this.#chaining === run) this.#chaining = undefined;
    });
    this.#chaining = run;
    return run;
  }

  async #chainOutbox(): Promise<void> {
    let total = 0;
    for (;;) {
      const chainedNow = await this.store.db.transaction().execute(async (trx) => {
        // The head lock first: one chainer at a time across replicas, and the outbox read after
        // it sees everything committed before the previous chainer let go.
        const head = await this.store.lockHead(trx);
        const waiting = await this.store.takeOutbox(trx, CHAIN_BATCH);
        if (waiting.length === 0) return 0;
        await this.store.appendMany(trx, chained(head, waiting));
        return waiting.length;
      });
      total += chainedNow;
      if (chainedNow < CHAIN_BATCH) break;
    }
    if (total > 0) for (const listener of this.#appended) listener();
  }

  #build(input: AuditInput): Built {
    if (!TYPE.test(input.type)) {
      throw new Error(
        `audit event type ${input.type} does not follow dev.palisade.<area>.<resource>.<verb>.vN`,
      );
    }
    const scope = currentScope();
    const actor =
      input.actor ?? (scope ? (scope.principal ? actorOf(scope.principal) : ANONYMOUS_ACTOR) : SYSTEM_ACTOR);
    const now = input.time ?? Date.now();
    const request =
      input.request ??
      (scope ? { id: scope.requestId, ip: scope.ip, user_agent: scope.userAgent ?? null } : null);
    const path = input.path ?? scope?.path ?? '/';
    // The id carries the event's time (the store finds time ranges through it).
    const id = uuidv7({ msecs: now });
    // The CloudEvent's structured JSON form, written directly as canonical text: the SDK's
    // constructor copies and freezes every event and re-parses its time, on the path of every
    // change. The shape is checked against the CloudEvents schema by the tests; delivery uses the
    // SDK. Stored as hashed (verification then hashes the stored text as is), and made here,
    // before the head is locked, so the lock is held for the hashing only.
    const canonical = eventText({
      id,
      source: `${this.origin()}${path}`,
      type: input.type,
      subject: input.subject,
      time: new Date(now).toISOString(),
      actor,
      org: input.org,
      request,
      outcome: input.outcome ?? 'success',
      body: input.body ?? null,
    });
    return { input, canonical, actor, now, id };
  }
}

type EventRow = Omit<AuditOutboxTable, 'n'>;

function toOutboxRow({ input, canonical, actor, now, id }: Built): EventRow {
  return {
    id,
    type: input.type,
    subject: input.subject ?? null,
    org: input.org ?? null,
    actor: actor.subject,
    time: now,
    event: canonical,
  };
}

/** Rows for the events, numbered and hashed after the head. */
function chained(head: { seq: number; hash: string }, events: readonly EventRow[]): AuditEventsTable[] {
  let { seq, hash } = head;
  const rows: AuditEventsTable[] = [];
  for (const event of events) {
    const next = hashCanonical(hash, event.event);
    seq += 1;
    rows.push({
      seq,
      id: event.id,
      type: event.type,
      subject: event.subject,
      org: event.org,
      actor: event.actor,
      time: event.time,
      event: event.event,
      prev_hash: hash,
      hash: next,
    });
    hash = next;
  }
  return rows;
}

/**
 * Actors by principal: a cached caller (bearer-authorizer keeps one per token for seconds) is the
 * same object in every request it makes, so its actor is built, frozen and canonicalised once.
 */
const actors = new WeakMap<Principal, AuditActor>();

/** Who acted, as events record it: a frozen copy, its canonical JSON text remembered. */
export function actorOf(principal: Principal): AuditActor {
  let actor = actors.get(principal);
  if (actor === undefined) {
    // A copy: freezing must not reach into the principal's own claims.
    actor = withCanonicalText(structuredClone(describeActor(principal)));
    actors.set(principal, actor);
  }
  return actor;
}

/** The actor as events name it, with the original identity's claims (never the token itself). */
function describeActor(principal: Principal): AuditActor {
  const claims = principal.token?.claims;
  const auth = principal.authentication;
  const act: Record<string, unknown> = {};
  if (auth.upstream) {
    act.iss = auth.upstream.iss;
    act.sub = auth.upstream.sub;
  } else if (claims) {
    act.iss = claims.iss;
    act.sub = claims.sub;
  }
  if (auth.workload) {
    // A machine: the audience of its own token, the identity it assumed and the job's claims.
    act.aud = auth.workload.aud;
    act.identity = auth.workload.identity;
    Object.assign(act, auth.workload.claims);
  } else if (claims?.aud !== undefined) act.aud = claims.aud;
  if (auth.amr?.length) act.amr = auth.amr;
  if (auth.acr) act.acr = auth.acr;
  if (auth.auth_time !== undefined) act.auth_time = auth.auth_time;
  if (claims?.client_id) act.client_id = claims.client_id;
  return { subject: principal.subject, kind: principal.kind, act };
}

/** A user acting through a web session (no bearer token): their id and how they signed in. */
export function actorForUser(userId: string, authentication: Authentication): AuditActor {
  const act: Record<string, unknown> = {};
  if (authentication.upstream) {
    act.iss = authentication.upstream.iss;
    act.sub = authentication.upstream.sub;
  }
  if (authentication.amr?.length) act.amr = authentication.amr;
  if (authentication.acr) act.acr = authentication.acr;
  if (authentication.auth_time !== undefined) act.auth_time = authentication.auth_time;
  return { subject: `user:${userId}`, kind: 'user', act };
}
