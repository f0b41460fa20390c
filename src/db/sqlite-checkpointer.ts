// Moves SQLite's WAL checkpoints off the event loop. With journal_mode=WAL, the commit that
// finds the log past `wal_autocheckpoint` pages copies the log back into the database file and
// fsyncs both, on the connection that committed: under a stream of writes that is a pause on the
// request path every few dozen transactions, paid in proportion to the pages each transaction
// writes. A thread with its own connection runs passive checkpoints (which never block readers
// or the writer) on a timer instead; the server's connection keeps a high automatic threshold
// only as a fallback, should the thread fall behind or die.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Log size (pages) at which the server's own connection still checkpoints: ~40 MiB of WAL. */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 10_000;

/**
 * The thread's program, a fixed string (run the same from sources and from the build). It gets
 * better-sqlite3's resolved path, since code evaluated in a worker resolves modules from nowhere.
 */
const CHECKPOINT_THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'close') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.postMessage({ closed: true });
  parentPort.close();
});
`;

export class SqliteCheckpointer {
  readonly #worker: Worker;
  #closed: Promise<void> | undefined;
  #exited = false;
  /** The last error the thread reported (a checkpoint that failed is retried on the next tick). */
  lastError: string | undefined;

  constructor(file: string, intervalMs = 250) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(CHECKPOINT_THREAD_SOURCE, {
      eval: true,
      workerData: { file, module, intervalMs },
    });
    this.#worker.unref();
    this.#worker.on('message', (message: { error?: string }) => {
      if (message.error) this.lastError = message.error;
    });
    // A dead thread only means the fallback threshold checkpoints instead.
    this.#worker.on('error', (error) => (this.lastError = error.message));
    this.#worker.once('exit', () => (this.#exited = true));
  }

  /** Stops the thread after a last checkpoint. */
  close(): Promise<void> {
    // A thread that already died (it could not open the database, say) has nothing to stop.
    if (this.#exited) return Promise.resolve();
    this.#closed ??= new Promise<void>((resolve) => {
      const done = () => resolve();
      this.#worker.once('exit', done);
      this.#worker.once('message', (message: { closed?: boolean }) => {
        if (message.closed) void this.#worker.terminate().then(done, done);
      });
      this.#worker.postMessage('close');
    });
    return this.#closed;
  }
}
