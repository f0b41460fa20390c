// Hashes pages of chain rows on a worker thread, so that verifying a large log reads the next
// page (on the event loop, or in the database server) while the previous one is hashed. Every
// row carries its predecessor's hash, so a row's own hash check needs no other row: the thread
// answers "which rows do not hash to their hash" and the caller checks the links between rows.
import { Worker } from 'node:worker_threads';
import type { ChainRow } from './chain.js';

/**
 * The thread's program, the same computation as chain.ts's hashCanonical. A fixed string (never
 * built from data), so it runs the same from TypeScript sources under tsx and from the build.
 */
const PAGE_THREAD_SOURCE = `
const { hash } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ id, prev, text, expected }) => {
  const bad = [];
  for (let i = 0; i < text.length; i++) {
    const bytes = Buffer.allocUnsafe(32 + Buffer.byteLength(text[i]));
    bytes.write(prev[i], 0, 'hex');
    bytes.write(text[i], 32, 'utf8');
    if (hash('sha256', bytes, 'hex') !== expected[i]) bad.push(i);
  }
  parentPort.postMessage({ id, bad });
});
`;

export class PageHasher {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: (bad: number[]) => void; reject: (e: Error) => void }>();
  #next = 0;
  #failure: Error | undefined;

  constructor() {
    this.#worker = new Worker(PAGE_THREAD_SOURCE, { eval: true });
    this.#worker.on('message', ({ id, bad }: { id: number; bad: number[] }) => {
      this.#waiting.get(id)?.resolve(bad);
      this.#waiting.delete(id);
    });
    const fail = (error: Error) => {
      this.#failure = error;
      for (const waiter of this.#waiting.values()) waiter.reject(error);
      this.#waiting.clear();
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', () => fail(new Error('the verification thread stopped')));
  }

  /** The indices of the rows whose stored text does not hash to their hash (mismatchedRows). */
  mismatched(rows: readonly ChainRow[]): Promise<number[]> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = (this.#next += 1);
    const prev = new Array<string>(rows.length);
    const text = new Array<string>(rows.length);
    const expected = new Array<string>(rows.length);
    for (let i = 0; i < rows.length; i += 1) {
      const row = rows[i]!;
      prev[i] = row.prev_hash;
      text[i] = row.event;
      expected[i] = row.hash;
    }
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ id, prev, text, expected });
    });
  }

  async close(): Promise<void> {
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }
}
