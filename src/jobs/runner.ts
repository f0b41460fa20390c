// The worker that runs durable jobs: claims due jobs with a lease it keeps extending while the
// handler works, retries failures with exponential backoff, and gives up after the job's maximum
// attempts. Handlers decide what a failure is: an image whose layers are hostile is a job that
// succeeded in recording that, not one to retry; a database that is down is.
import { randomUUID } from 'node:crypto';
import type { ClaimedJob, JobStore } from './store.js';

export type JobHandler = (job: ClaimedJob) => Promise<unknown>;

export interface JobRunnerOptions {
  /** Jobs run at once by this server. */
  concurrency: number;
  /** How often to look for due jobs when nothing nudged the runner. */
  pollMs: number;
  leaseMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /**
   * Whether the server is busy with its own clients (pushes under way or just finished): jobs
   * then wait, so that background analysis does not slow a burst of pushes down.
   */
  busy?: () => boolean;
  /** How long jobs give way to a server that stays busy, at most (then they run alongside). */
  maxYieldMs: number;
}

export interface JobRunResult {
  ran: number;
  succeeded: number;
  failed: number;
  errors: string[];
}

export interface JobLogger {
  warn(object: object, message: string): void;
}

export const DEFAULT_RUNNER_OPTIONS: JobRunnerOptions = {
  concurrency: 1,
  pollMs: 2000,
  leaseMs: 60_000,
  backoffInitialMs: 5_000,
  backoffMaxMs: 15 * 60_000,
  maxYieldMs: 30_000,
};

/** How often a runner that gives way looks again. */
const YIELD_RECHECK_MS = 100;

export class JobRunner {
  readonly owner = randomUUID();
  readonly #handlers = new Map<string, JobHandler>();
  readonly #options: JobRunnerOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #active = 0;
  #idle: (() => void)[] = [];
  #looking = false;
  #again = false;
  /** Since when the runner has been giving way to a busy server (undefined: it is not). */
  #yieldingSince: number | undefined;

  constructor(
    private readonly store: JobStore,
    options: Partial<JobRunnerOptions> = {},
    private readonly log?: JobLogger,
    private readonly clock: () => number = Date.now,
  ) {
    this.#options = { ...DEFAULT_RUNNER_OPTIONS, ...options };
  }

  handle(kind: string, handler: JobHandler): this {
    this.#handlers.set(kind, handler);
    return this;
  }

  start(): void {
    this.#stopped = false;
    this.nudge();
  }

  /** New work was committed: look now rather than at the next poll. */
  nudge(): void {
    if (this.#stopped) return;
    if (this.#looking) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#fill(), 0);
  }

  /** Stops claiming and waits for running jobs to finish. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#active > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /** Runs due jobs one after another until none is due (tests, host-local commands). */
  async runUntilIdle(): Promise<JobRunResult> {
    const result: JobRunResult = { ran: 0, succeeded: 0, failed: 0, errors: [] };
    for (;;) {
      const job = await this.store.claim(this.owner, this.clock(), this.#options.leaseMs);
      if (!job) return result;
      result.ran++;
      const error = await this.#run(job);
      if (error === undefined) result.succeeded++;
      else {
        result.failed++;
        result.errors.push(`${job.kind} ${job.key}: ${error}`);
      }
    }
  }

  /** True while jobs should wait for the server's own clients (bounded by maxYieldMs). */
  #yielding(): boolean {
    if (!this.#options.busy?.()) {
      this.#yieldingSince = undefined;
      return false;
    }
    // A burst of pushes gets the server to itself for maxYieldMs; under load that lasts longer,
    // jobs run alongside it again until the server is next idle.
    const now = this.clock();
    this.#yieldingSince ??= now;
    return now - this.#yieldingSince < this.#options.maxYieldMs;
  }

  async #fill(): Promise<void> {
    if (this.#stopped || this.#looking) return;
    if (this.#yielding()) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.#fill(), YIELD_RECHECK_MS);
      this.#timer.unref();
      return;
    }
    this.#looking = true;
    try {
      do {
        this.#again = false;
        while (!this.#stopped && this.#active < this.#options.concurrency) {
          const job = await this.store.claim(this.owner, this.clock(), this.#options.leaseMs);
          if (!job) break;
          this.#active++;
          void this.#run(job).finally(() => {
            this.#active--;
            if (this.#active === 0) for (const resolve of this.#idle.splice(0)) resolve();
            this.nudge();
          });
        }
      } while (this.#again && !this.#stopped);
    } catch (error) {
      this.log?.warn({ err: error }, 'job runner could not claim work; retrying at the next poll');
    } finally {
      this.#looking = false;
    }
    if (!this.#stopped) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.#fill(), this.#options.pollMs);
      this.#timer.unref();
    }
  }

  /** Runs one claimed job; returns the error message if it failed. */
  async #run(job: ClaimedJob): Promise<string | undefined> {
    const handler = this.#handlers.get(job.kind);
    const keepAlive = setInterval(
      () =>
        void this.store.extend(job.id, this.owner, this.clock() + this.#options.leaseMs).catch(() => false),
      Math.max(10, this.#options.leaseMs / 3),
    );
    keepAlive.unref();
    try {
      if (!handler) throw new Error(`no handler for job kind ${job.kind}`);
      const result = await handler(job);
      await this.store.complete(job.id, this.owner, result, this.clock());
      return undefined;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const retryAt = job.attempt < job.maxAttempts ? this.clock() + this.#backoff(job.attempt) : undefined;
      this.log?.warn(
        { err: error, job: { kind: job.kind, key: job.key, attempt: job.attempt } },
        retryAt === undefined ? 'job failed for good' : 'job failed; will retry',
      );
      await this.store.fail(job.id, this.owner, message, this.clock(), retryAt).catch((failure: unknown) => {
        this.log?.warn(
          { err: failure, job: { kind: job.kind, key: job.key } },
          'could not record a job failure',
        );
      });
      return message;
    } finally {
      clearInterval(keepAlive);
    }
  }

  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#options.backoffMaxMs, this.#options.backoffInitialMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }
}
