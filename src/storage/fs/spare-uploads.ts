// Empty upload files made ahead of time, so that starting an upload touches no file. Creating a
// file takes a journal handle, which waits while other uploads' fsyncs commit the journal; on
// the event loop that cost ~0.5 ms a create under a push burst, and through the thread pool one
// hand-over per upload. A worker thread creates them in batches instead (one message per batch),
// each named by a random UUID: a spare becomes an upload by handing out its name. The names are
// chosen here and known before their files exist, so a listing of uploads never takes a spare
// for a session.
import { randomUUID } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

const SPARE_THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, closeSync } = require('node:fs');
const { join } = require('node:path');
parentPort.on('message', (ids) => {
  const made = [];
  let error;
  for (const id of ids) {
    try {
      closeSync(openSync(join(workerData.dir, id), 'wx'));
      made.push(id);
    } catch (e) {
      error = String((e && e.message) || e);
      break;
    }
  }
  parentPort.postMessage({ made, error });
});
`;

export interface SpareUploadsOptions {
  /** A batch is made when fewer than this many are ready (default 16). */
  low?: number;
  /** Files per batch (default 64). */
  batch?: number;
  /**
   * Older spares are removed rather than handed out (default 10 min): garbage collection may
   * take a file without a session for an abandoned upload once it is old enough.
   */
  maxAgeMs?: number;
  now?: () => number;
}

export class SpareUploads {
  readonly #dir: string;
  readonly #low: number;
  readonly #batch: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** Oldest first. */
  #ready: { id: string; madeAt: number }[] = [];
  /** Ready and being made. */
  readonly #ids = new Set<string>();
  #worker: Worker | undefined;
  /** The batch the thread is making. */
  #making: string[] | undefined;
  /** Set when the thread failed: uploads then make their own files, as before. */
  #broken = false;
  #closed = false;

  constructor(dir: string, options: SpareUploadsOptions = {}) {
    this.#dir = dir;
    this.#low = options.low ?? 16;
    this.#batch = options.batch ?? 64;
    this.#maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** The id of an empty upload file that is now the caller's, or undefined when none is ready. */
  take(): string | undefined {
    let taken: string | undefined;
    const stale: string[] = [];
    while (!taken && this.#ready.length > 0) {
      const spare = this.#ready.shift()!;
      this.#ids.delete(spare.id);
      if (this.#now() - spare.madeAt > this.#maxAgeMs) stale.push(spare.id);
      else taken = spare.id;
    }
    for (const id of stale) this.#remove(id);
    this.#topUp();
    return taken;
  }

  /** Whether `id` is a spare not handed out yet (so not an upload session). */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** How many are ready (for tests). */
  get size(): number {
    return this.#ready.length;
  }

  /** Stops making spares and removes those not handed out. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
    // After the thread has stopped: the batch it was making may have files by now.
    const left = [...this.#ready.map((spare) => spare.id), ...(this.#making ?? [])];
    this.#making = undefined;
    this.#ready = [];
    this.#ids.clear();
    await Promise.all(left.map((id) => unlink(join(this.#dir, id)).catch(() => undefined)));
  }

  #topUp(): void {
    if (this.#making || this.#broken || this.#closed || this.#ready.length >= this.#low) return;
    const worker = this.#thread();
    if (!worker) return;
    const ids = Array.from({ length: this.#batch }, () => randomUUID());
    for (const id of ids) this.#ids.add(id);
    this.#making = ids;
    worker.postMessage(ids);
  }

  #thread(): Worker | undefined {
    if (this.#worker) return this.#worker;
    try {
      const worker = new Worker(SPARE_THREAD_SOURCE, { eval: true, workerData: { dir: this.#dir } });
      worker.unref();
      worker.on('message', ({ made, error }: { made: string[]; error?: string }) => {
        const asked = this.#making ?? [];
        this.#making = undefined;
        const madeAt = this.#now();
        if (this.#closed) {
          for (const id of made) this.#remove(id);
          return;
        }
        const ready = new Set(made);
        for (const id of asked) if (!ready.has(id)) this.#ids.delete(id);
        for (const id of made) this.#ready.push({ id, madeAt });
        // A full disk or a missing directory: stop asking, the caller's own create reports it.
        if (error !== undefined) this.#broken = true;
      });
      const fail = () => {
        // Names asked for stay known: the thread may have made some of them before it failed.
        this.#making = undefined;
        this.#broken = true;
        this.#worker = undefined;
      };
      worker.on('error', fail);
      worker.on('exit', () => {
        if (!this.#closed) fail();
      });
      this.#worker = worker;
      return worker;
    } catch {
      this.#broken = true;
      return undefined;
    }
  }

  #remove(id: string): void {
    unlink(join(this.#dir, id)).catch(() => undefined);
  }
}
