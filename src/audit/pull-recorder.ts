// Registry pulls are reads, so they need no transaction of their own change; recording each in
// its own chained write would serialise every manifest GET behind the chain lock. Pulls are
// queued with their actor and request and written in batches (one transaction every 200 ms or
// 500 pulls). The cost: pulls still queued when the process dies are not recorded.
import type { AuditInput, AuditLog } from './audit-log.js';
import type { PullRequest } from '../registry/routes.js';
import { actorOf, ANONYMOUS_ACTOR } from './audit-log.js';

const FLUSH_MS = 200;
const MAX_BATCH = 500;
const MAX_QUEUE = 50_000;

export interface PullRecorderResult {
  written: number;
  dropped: number;
}

export class PullRecorder {
  #queue: AuditInput[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #dropped = 0;

  constructor(
    private readonly audit: AuditLog,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Queues a pull of `repository@digest` by the current request's caller. */
  record(
    repository: string,
    digest: string,
    reference: string,
    organization: string,
    request: PullRequest,
  ): void {
    if (this.#queue.length >= MAX_QUEUE) {
      this.#dropped += 1;
      return;
    }
    this.#queue.push({
      type: 'dev.palisade.registry.manifest.pulled.v1',
      subject: `${repository}@${digest}`,
      org: organization,
      actor: request.principal ? actorOf(request.principal) : ANONYMOUS_ACTOR,
      request: {
        id: request.requestId,
        ip: request.ip,
        user_agent: request.userAgent?.slice(0, 300) ?? null,
      },
      path: request.path.slice(0, 1000),
      time: Date.now(),
      body: { repository, digest, reference },
    });
    if (this.#queue.length >= MAX_BATCH) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Writes what is queued (also called at shutdown). */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(async () => {
      try {
        await this.audit.recordBatch(batch);
      } catch (error) {
        this.#dropped += batch.length;
        this.onError(error);
      }
    });
    if (this.#queue.length > 0) return this.flush();
    return this.#flushing;
  }

  get dropped(): number {
    return this.#dropped;
  }
}
