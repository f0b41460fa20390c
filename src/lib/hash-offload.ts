// Hashes upload streams on a worker thread. Receiving, hashing and writing a blob all on the
// event loop caps a push near one core's speed; moving sha256 to its own thread lets the three
// overlap. Bytes are posted in 1 MiB batches with bounded bytes in flight (so memory stays flat
// when the hash falls behind), and the thread applies them in order.
import { Worker } from 'node:worker_threads';
import type { DigestAlgorithm } from './digest.js';

export type HashRequest =
  | { op: 'begin'; id: string; algorithm: DigestAlgorithm }
  | { op: 'update'; id: string; data: ArrayBuffer; length: number }
  | { op: 'checkpoint'; id: string }
  | { op: 'rollback'; id: string }
  | { op: 'digest'; id: string; seq: number }
  | { op: 'drop'; id: string };

export type HashResponse =
  { op: 'ack'; data: ArrayBuffer; length: number } | { op: 'digest'; seq: number; hex: string | undefined };

/**
 * The worker's program: one running hash per upload, messages applied in posting order, so a
 * digest request covers every byte posted before it. It is a fixed string (never built from
 * data) so that it runs the same from TypeScript sources under tsx and from the compiled build.
 */
const HASH_THREAD_SOURCE = `
const { createHash } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
const hashes = new Map();
const checkpoints = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'begin') { hashes.set(m.id, createHash(m.algorithm)); checkpoints.delete(m.id); }
  else if (m.op === 'update') {
    const hash = hashes.get(m.id);
    if (hash) hash.update(new Uint8Array(m.data, 0, m.length));
    // Hand the buffer back for reuse: no garbage piles up on either side.
    parentPort.postMessage({ op: 'ack', data: m.data, length: m.length }, [m.data]);
  }
  else if (m.op === 'checkpoint') { const h = hashes.get(m.id); if (h) checkpoints.set(m.id, h.copy()); }
  else if (m.op === 'rollback') { const h = checkpoints.get(m.id); if (h) hashes.set(m.id, h); checkpoints.delete(m.id); }
  else if (m.op === 'digest') {
    const h = hashes.get(m.id);
    parentPort.postMessage({ op: 'digest', seq: m.seq, hex: h ? h.copy().digest('hex') : undefined });
  }
  else if (m.op === 'drop') { hashes.delete(m.id); checkpoints.delete(m.id); }
});
`;

const BATCH_BYTES = 1024 * 1024;
const MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024;
const POOL_SIZE = MAX_IN_FLIGHT_BYTES / BATCH_BYTES + 2;

/** One upload's view of the offloaded hash: feed bytes, then flush before asking for a digest. */
export interface OffloadedHash {
  update(chunk: Buffer): Promise<void>;
  /** Posts any batched bytes. */
  flush(): void;
}

export class HashOffload {
  #worker: Worker | undefined;
  #failed = false;
  #inFlight = 0;
  /** Batch buffers travel to the worker and back, so the bytes in flight are all the memory used. */
  #pool: ArrayBuffer[] = [];
  #waiters: (() => void)[] = [];
  #seq = 0;
  #pending = new Map<number, { resolve: (hex: string | undefined) => void }>();

  /** False once the worker has died; callers then hash on their own (by re-reading). */
  get usable(): boolean {
    return !this.#failed;
  }

  #post(message: HashRequest, transfer: ArrayBuffer[] = []): void {
    this.#thread().postMessage(message, transfer);
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(HASH_THREAD_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (message: HashResponse) => {
      if (message.op === 'ack') {
        this.#inFlight -= message.length;
        if (this.#pool.length < POOL_SIZE) this.#pool.push(message.data);
        if (this.#inFlight <= MAX_IN_FLIGHT_BYTES) this.#wake();
      } else {
        this.#pending.get(message.seq)?.resolve(message.hex);
        this.#pending.delete(message.seq);
      }
    });
    worker.on('error', () => this.#fail());
    worker.on('exit', () => this.#fail());
    this.#worker = worker;
    return worker;
  }

  #fail(): void {
    this.#failed = true;
    this.#worker = undefined;
    this.#inFlight = 0;
    this.#wake();
    for (const waiter of this.#pending.values()) waiter.resolve(undefined);
    this.#pending.clear();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  begin(id: string, algorithm: DigestAlgorithm): void {
    this.#post({ op: 'begin', id, algorithm });
  }

  /** Starts feeding bytes for `id`; the checkpoint lets a failed append be undone. */
  open(id: string): OffloadedHash {
    this.#post({ op: 'checkpoint', id });
    let batch: Buffer[] = [];
    let batched = 0;
    const flush = () => {
      if (batched === 0 || this.#failed) return;
      const length = batched;
      const pooled = this.#pool.pop();
      const data =
        pooled && pooled.byteLength >= length ? pooled : new ArrayBuffer(Math.max(length, BATCH_BYTES));
      const view = new Uint8Array(data);
      let at = 0;
      for (const chunk of batch) {
        view.set(chunk, at);
        at += chunk.length;
      }
      this.#inFlight += length;
      batch = [];
      batched = 0;
      this.#post({ op: 'update', id, data, length }, [data]);
    };
    return {
      update: async (chunk) => {
        batch.push(chunk);
        batched += chunk.length;
        if (batched >= BATCH_BYTES) flush();
        while (this.#inFlight > MAX_IN_FLIGHT_BYTES && !this.#failed) {
          await new Promise<void>((resolve) => this.#waiters.push(resolve));
        }
      },
      flush,
    };
  }

  rollback(id: string): void {
    if (!this.#failed) this.#post({ op: 'rollback', id });
  }

  /** The hex digest of every byte fed so far, or undefined when the worker could not give it. */
  digest(id: string): Promise<string | undefined> {
    if (this.#failed) return Promise.resolve(undefined);
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      this.#pending.set(seq, { resolve });
      this.#post({ op: 'digest', id, seq });
    });
  }

  drop(id: string): void {
    if (!this.#failed && this.#worker) this.#post({ op: 'drop', id });
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) await worker.terminate();
  }
}
