// Filesystem BlobStore. Blobs live at blobs/<alg>/<first two hex>/<hex>; uploads at
// uploads/<id>. A blob becomes visible only by an atomic rename after its bytes are fsynced
// and their digest verified, so a crash at any moment leaves either no blob or a whole one.
import {
  close,
  closeSync,
  constants,
  createReadStream,
  createWriteStream,
  fstatSync,
  fsync,
  open as openFd,
  openSync,
  statSync,
  write,
  writeSync,
} from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, truncate, unlink } from 'node:fs/promises';
import type { Hash } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { newHasher, parseDigest, type DigestAlgorithm } from '../../lib/digest.js';
import { HashOffload } from '../../lib/hash-offload.js';
import {
  AlignedBufferPool,
  alignedBuffersAvailable,
  DirectAppender,
  openDirect,
  probeDirectIo,
  sendDirect,
} from './direct-io.js';
import { KeyedMutex } from '../../lib/keyed-mutex.js';
import {
  AppendSizeError,
  DigestMismatchError,
  OffsetMismatchError,
  UploadNotFoundError,
  type AppendOptions,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type StoredItem,
} from '../blob-store.js';

const UPLOAD_ID = /^[A-Za-z0-9-]{1,64}$/;
/** Read size when serving a blob; the two send buffers are reused for the whole response. */
const SEND_CHUNK_BYTES = 1024 * 1024;
/** Uploads known to be at most this big are hashed inline: a worker round trip costs more. */
const INLINE_HASH_MAX_BYTES = 4 * 1024 * 1024;
/**
 * Appends that announce at most this many bytes are gathered in memory and written with one
 * write: a write stream and its pipeline cost more than the bytes of a config or a small layer.
 */
const SMALL_APPEND_BYTES = 256 * 1024;
/** Direct I/O buffer size: big enough that each write or read is one large request to the disk. */
const DIRECT_BUFFER_BYTES = 4 * 1024 * 1024;
/**
 * At most this many direct I/O buffers exist (a fixed 32 MiB): an append holds two, a send four.
 * Requests that find none free use buffered I/O, as small blobs always do.
 */
const DIRECT_MAX_BUFFERS = 8;
const DIRECT_SEND_BUFFERS = 4;
/** Blobs (or ranges) at least this big are sent with direct I/O; smaller ones are likely hot and cached. */
const DIRECT_SEND_MIN_BYTES = 1024 * 1024;
/** Appends up to this size are written synchronously (a few pages into the page cache). */
const SYNC_WRITE_BYTES = 64 * 1024;
/** Blob directories held open (sha256 has 256 of them); others are opened for each fsync. */
const MAX_DIR_FDS = 300;

/**
 * Where big blobs bypass the page cache (O_DIRECT, where init() finds the filesystem takes it):
 * `on` for uploads and for sending blobs, `writes` for uploads only (reads then fill the cache),
 * `off` for neither.
 */
export type DirectIoMode = 'on' | 'writes' | 'off';

export interface FsBlobStoreOptions {
  /** Default `off`. */
  directIo?: DirectIoMode;
}

/** Bytes that went to and from the disk with direct I/O, for metrics and tests. */
export interface DirectIoStats {
  /** The mode in force: `off` when asked for, or when the filesystem refused O_DIRECT. */
  mode: DirectIoMode;
  bytesWritten: number;
  bytesRead: number;
}

// File descriptors rather than FileHandles on the per-blob path: a FileHandle is an object with
// its own close tracking and finaliser, and a small-image push opens five files per blob.
//
// Calls the kernel answers from its caches without the filesystem journal (opening an existing
// file, close, stat, a write of a few pages) are synchronous on that path. Through node's thread
// pool each cost the event loop more than the call itself on a 2-core VM (the hand-over wakes a
// pool thread, which preempts the loop; see BENCHMARKS.md, registry, "Session 8"). What waits for the disk or the journal (fsync, creating and renaming files,
// big writes, reads) stays asynchronous. The data directory is a local filesystem (remote
// storage is a BlobStore of its own), so none of these waits on a network.
const openFile = promisify(openFd);
const closeFile = promisify(close);
const syncFile = promisify(fsync);
const writeFile = promisify(write);

type HashState = { kind: 'inline'; hash: Hash; offset: number } | { kind: 'worker'; offset: number };

interface HashFeed {
  update(chunk: Buffer): void | Promise<void>;
  done(size: number): void;
  rollback(): void;
}

export class FsBlobStore implements BlobStore {
  readonly streamingAlgorithm: DigestAlgorithm = 'sha256';
  readonly #root: string;
  /** Each upload's running hash (absent: the commit hashes by re-reading the file). */
  readonly #hashes = new Map<string, HashState>();
  readonly #hasher = new HashOffload();
  /** Blob directories known to exist, to spare a mkdir per commit. */
  readonly #knownDirs = new Set<string>();
  readonly #uploadLocks = new KeyedMutex();
  readonly #wantDirect: DirectIoMode;
  /** Present once init() has found direct I/O to work here. */
  #direct: AlignedBufferPool | undefined;
  readonly #directStats = { bytesWritten: 0, bytesRead: 0 };
  /**
   * Uploads whose bytes are already fsynced, with their size: a small blob sent whole is synced by
   * the append that wrote it, so its commit need not open the file again.
   */
  readonly #durable = new Map<string, number>();
  /**
   * Blob directories kept open for the fsync that makes each rename durable (one call instead of
   * open, fsync, close per blob). Blob directories are never removed, so a cached descriptor
   * stays the directory it was opened as; at most MAX_DIR_FDS are kept.
   */
  readonly #dirFds = new Map<string, Promise<number>>();

  constructor(root: string, options: FsBlobStoreOptions = {}) {
    this.#root = root;
    this.#wantDirect = options.directIo ?? 'off';
  }

  async init(): Promise<void> {
    await mkdir(join(this.#root, 'blobs'), { recursive: true });
    await mkdir(join(this.#root, 'uploads'), { recursive: true });
    if (this.#wantDirect !== 'off' && !this.#direct) {
      const pool = newPool();
      if (pool && (await probeDirectIo(join(this.#root, 'uploads'), pool))) this.#direct = pool;
    }
  }

  get directIo(): DirectIoStats {
    return { mode: this.#direct ? this.#wantDirect : 'off', ...this.#directStats };
  }

  #blobPath(digest: string): string {
    const parsed = parseDigest(digest);
    if (typeof parsed !== 'object') throw new Error('invalid digest');
    return join(this.#root, 'blobs', parsed.algorithm, parsed.hex.slice(0, 2), parsed.hex);
  }

  #uploadPath(id: string): string {
    if (!UPLOAD_ID.test(id)) throw new UploadNotFoundError(id);
    return join(this.#root, 'uploads', id);
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    try {
      const s = await stat(this.#blobPath(digest));
      return { digest, size: s.size };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    // Open first so a missing blob fails here, not half-way through a response.
    const handle = await open(this.#blobPath(digest), 'r');
    return handle.createReadStream({
      autoClose: true,
      // Each read allocates a fresh buffer; 4 MiB reads measured ~30% faster pulls than 1 MiB
      // (fewer allocations for the GC to chase), with little more memory.
      highWaterMark: 4 * 1024 * 1024,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
  }

  async sendTo(
    digest: string,
    destination: Writable,
    options: { range?: ByteRange; ready: () => void },
  ): Promise<void> {
    const path = this.#blobPath(digest);
    if (this.#direct && this.#wantDirect === 'on') {
      const sent = await this.#sendDirect(path, destination, options);
      if (sent) return;
    }
    const handle = await open(path, 'r');
    try {
      const size = (await handle.stat()).size;
      const end = options.range ? options.range.end : size - 1;
      let position = options.range ? options.range.start : 0;
      options.ready();
      // Two buffers in turn: one is read into while the socket still owns the other, and a
      // buffer is refilled only after the write that used it has completed.
      const buffers = [Buffer.allocUnsafeSlow(SEND_CHUNK_BYTES), Buffer.allocUnsafeSlow(SEND_CHUNK_BYTES)];
      let writing: Promise<void> | undefined;
      for (let turn = 0; position <= end; turn ^= 1) {
        const buffer = buffers[turn]!;
        const { bytesRead } = await handle.read(
          buffer,
          0,
          Math.min(buffer.length, end - position + 1),
          position,
        );
        if (bytesRead === 0) throw new Error('blob ended early');
        await writing;
        writing = writeChunk(destination, buffer.subarray(0, bytesRead));
        // The write may fail while the next read is awaited; it is awaited (and rethrown) on the
        // next turn, so mark it handled now rather than let it count as an unhandled rejection.
        writing.catch(() => undefined);
        position += bytesRead;
      }
      await writing;
      destination.end();
    } catch (error) {
      destination.destroy();
      throw error;
    } finally {
      await handle.close();
    }
  }

  /**
   * sendTo with direct I/O, when the blob is big enough and buffers are free; false (having done
   * nothing) otherwise.
   */
  async #sendDirect(
    path: string,
    destination: Writable,
    options: { range?: ByteRange; ready: () => void },
  ): Promise<boolean> {
    const pool = this.#direct!;
    // Decided before opening anything (a blob's content, and so its size, never changes): a
    // small send, or a missing blob, goes the buffered way, which opens the file itself.
    const known = statSync(path, { throwIfNoEntry: false });
    if (!known) return false;
    const start = options.range ? options.range.start : 0;
    const end = options.range ? options.range.end : known.size - 1;
    if (end + 1 - start < DIRECT_SEND_MIN_BYTES) return false;
    const fd = await openDirect(path, constants.O_RDONLY);
    let buffers: Buffer[] | undefined;
    try {
      buffers = pool.take(DIRECT_SEND_BUFFERS);
      if (!buffers) return false;
      options.ready();
      try {
        // Not `+= await`: that would read the counter before the send and lose concurrent sends' bytes.
        const sent = await sendDirect(fd, start, end, buffers, (chunk) => writeChunk(destination, chunk));
        this.#directStats.bytesRead += sent;
      } catch (error) {
        destination.destroy();
        // A read or the socket may still hold them: never reuse.
        pool.discard(buffers);
        buffers = undefined;
        throw error;
      }
      destination.end();
      return true;
    } finally {
      if (buffers) pool.give(buffers);
      await closeFile(fd);
    }
  }

  async delete(digest: string): Promise<boolean> {
    try {
      await unlink(this.#blobPath(digest));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async *list(): AsyncIterable<StoredItem> {
    const base = join(this.#root, 'blobs');
    for (const algorithm of await readdirOrEmpty(base)) {
      for (const prefix of await readdirOrEmpty(join(base, algorithm))) {
        const dir = join(base, algorithm, prefix);
        for (const hex of await readdirOrEmpty(dir)) {
          const digest = `${algorithm}:${hex}`;
          if (typeof parseDigest(digest) !== 'object') continue;
          try {
            const s = await stat(join(dir, hex));
            yield { key: digest, modifiedAt: s.mtime };
          } catch (error) {
            if (!isNotFound(error)) throw error;
          }
        }
      }
    }
  }

  async createUpload(id: string): Promise<void> {
    // The create stays asynchronous: it takes a journal handle, which waits while other uploads'
    // fsyncs commit the journal (synchronously, ~0.5 ms a create on the event loop under a push
    // burst). Closing the new, empty file does not wait.
    closeSync(await openFile(this.#uploadPath(id), 'wx'));
    this.#forget(id);
  }

  uploadSize(id: string): Promise<number | undefined> {
    return settled(() => this.#uploadSize(id));
  }

  #uploadSize(id: string): number | undefined {
    try {
      const s = statSync(this.#uploadPath(id), { throwIfNoEntry: false });
      // Anything but a plain file (e.g. a directory left by an older layout) is no session.
      return s?.isFile() ? s.size : undefined;
    } catch (error) {
      if (error instanceof UploadNotFoundError) return undefined;
      throw error;
    }
  }

  append(id: string, offset: number, source: Readable, options: AppendOptions = {}): Promise<number> {
    return this.#uploadLocks.run(id, async () => {
      const path = this.#uploadPath(id);
      const current = this.#uploadSize(id);
      if (current === undefined) throw new UploadNotFoundError(id);
      if (current !== offset) throw new OffsetMismatchError(current);

      this.#durable.delete(id);
      const feed = this.#feed(id, offset, options.expectedBytes);
      const limit = options.maxBytes ?? Number.POSITIVE_INFINITY;
      let received = 0;
      const expected = options.expectedBytes;
      // Flushing every few MiB while streaming was measured slower (writes and fdatasync on one
      // file serialise); the commit fsyncs once instead.
      try {
        if (expected !== undefined && expected <= SMALL_APPEND_BYTES) {
          // Small and announced: gathered (never past what was announced) and written at once.
          const chunks: Buffer[] = [];
          for await (const chunk of source as AsyncIterable<Buffer>) {
            received += chunk.length;
            if (received > limit) throw new AppendSizeError('too-large', received);
            if (received > expected) throw new AppendSizeError('length-mismatch', received);
            chunks.push(chunk);
          }
          if (received !== expected) throw new AppendSizeError('length-mismatch', received);
          const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
          if (feed) await feed.update(body);
          const fd = openSync(path, 'r+');
          // A blob sent whole (the usual small push) is synced now, while the file is open: its
          // commit then only renames it.
          const whole = offset === 0 && feed !== undefined;
          try {
            for (let written = 0; written < body.length;) {
              const length = body.length - written;
              written +=
                length <= SYNC_WRITE_BYTES
                  ? writeSync(fd, body, written, length, offset + written)
                  : (await writeFile(fd, body, written, length, offset + written)).bytesWritten;
            }
            if (whole) await syncFile(fd);
          } finally {
            closeSync(fd);
          }
          feed?.done(offset + received);
          if (whole) this.#durable.set(id, received);
          return offset + received;
        }
        const appender = this.#direct
          ? await DirectAppender.open(path, offset, this.#direct, this.#directStats)
          : undefined;
        if (appender) {
          try {
            for await (const chunk of source as AsyncIterable<Buffer>) {
              received += chunk.length;
              if (received > limit) throw new AppendSizeError('too-large', received);
              if (feed) await feed.update(chunk);
              await appender.write(chunk);
            }
            await appender.finish();
          } catch (error) {
            await appender.abort();
            throw error;
          }
        } else
          await pipeline(
            source,
            async function* (chunks: AsyncIterable<Buffer>) {
              for await (const chunk of chunks) {
                received += chunk.length;
                if (received > limit) throw new AppendSizeError('too-large', received);
                if (feed) await feed.update(chunk);
                yield chunk;
              }
            },
            createWriteStream(path, { flags: 'r+', start: offset, highWaterMark: 1024 * 1024 }),
          );
        if (options.expectedBytes !== undefined && received !== options.expectedBytes) {
          throw new AppendSizeError('length-mismatch', received);
        }
      } catch (error) {
        // Roll the session back to where it was: a failed chunk leaves no trace.
        await truncate(path, offset).catch(() => undefined);
        feed?.rollback();
        throw error;
      }
      feed?.done(offset + received);
      return offset + received;
    });
  }

  /**
   * How the bytes of this append get hashed: continuing the upload's running hash, starting one
   * at offset 0 (small uploads inline, large ones on the worker thread), or not at all when the
   * running hash was lost (a restart) and the commit must re-read the file instead.
   */
  #feed(id: string, offset: number, expected: number | undefined): HashFeed | undefined {
    let state = this.#hashes.get(id);
    if (offset === 0) {
      this.#forget(id);
      const small = expected !== undefined && expected <= INLINE_HASH_MAX_BYTES;
      if (small || !this.#hasher.usable) {
        state = { kind: 'inline', hash: newHasher(this.streamingAlgorithm), offset: 0 };
      } else {
        this.#hasher.begin(id, this.streamingAlgorithm);
        state = { kind: 'worker', offset: 0 };
      }
      this.#hashes.set(id, state);
    } else if (!state || state.offset !== offset || (state.kind === 'worker' && !this.#hasher.usable)) {
      this.#forget(id);
      return undefined;
    }
    const running = state;
    if (running.kind === 'inline') {
      const checkpoint = running.hash.copy();
      return {
        update: (chunk) => void running.hash.update(chunk),
        done: (size) => (running.offset = size),
        rollback: () => (running.hash = checkpoint),
      };
    }
    const offloaded = this.#hasher.open(id);
    return {
      update: (chunk) => offloaded.update(chunk),
      done: (size) => {
        offloaded.flush();
        running.offset = size;
      },
      rollback: () => this.#hasher.rollback(id),
    };
  }

  commit(id: string, digest: string): Promise<BlobInfo> {
    return this.#uploadLocks.run(id, async () => {
      const parsed = parseDigest(digest);
      if (typeof parsed !== 'object') throw new Error('invalid digest');
      const path = this.#uploadPath(id);
      const size = await this.#verifyAndSync(id, path, digest, parsed.algorithm);
      const target = this.#blobPath(digest);
      const targetDir = dirname(target);
      if (!this.#knownDirs.has(targetDir)) {
        await mkdir(targetDir, { recursive: true });
        this.#knownDirs.add(targetDir);
      }
      // Asynchronous, like creating a file: a rename waits for the journal too.
      await rename(path, target).catch(async (error: unknown) => {
        if (!isNotFound(error)) throw error;
        // The session went away meanwhile (cancelled): nothing to commit.
        if (!(await exists(path))) throw new UploadNotFoundError(id);
        // The directory went away behind our back: make it again, once.
        this.#forgetDir(targetDir);
        await mkdir(targetDir, { recursive: true });
        await rename(path, target);
      });
      await this.#fsyncDir(targetDir);
      this.#forget(id);
      return { digest, size };
    });
  }

  /**
   * Checks the upload's content against `digest` and makes its bytes durable; returns its size.
   * Throws DigestMismatchError (the upload stays as it was) or UploadNotFoundError.
   */
  async #verifyAndSync(
    id: string,
    path: string,
    digest: string,
    algorithm: DigestAlgorithm,
  ): Promise<number> {
    const state = this.#hashes.get(id);
    const streamable = state !== undefined && algorithm === this.streamingAlgorithm;
    const durable = this.#durable.get(id);
    if (streamable && durable !== undefined && state.offset === durable) {
      // Written whole and synced by its append: nothing to read or sync again.
      const streamed = await this.#streamedHex(id, state);
      if (streamed !== undefined) {
        const actual = `${algorithm}:${streamed}`;
        if (actual !== digest) throw new DigestMismatchError(digest, actual);
        return durable;
      }
    }
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch (error) {
      // A directory (an older layout) is no session either.
      if (isNotFound(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') {
        throw new UploadNotFoundError(id);
      }
      throw error;
    }
    try {
      const { size } = fstatSync(fd);
      const streamed = streamable && state.offset === size ? await this.#streamedHex(id, state) : undefined;
      // Without a streamed hash (restart, another algorithm, worker lost): hash what is on disk.
      const actual = streamed ? `${algorithm}:${streamed}` : await hashFile(path, algorithm);
      if (actual !== digest) throw new DigestMismatchError(digest, actual);
      await syncFile(fd);
      return size;
    } finally {
      closeSync(fd);
    }
  }

  #streamedHex(id: string, state: HashState): Promise<string | undefined> | string {
    return state.kind === 'inline' ? state.hash.copy().digest('hex') : this.#hasher.digest(id);
  }

  /** Makes a rename into `dir` durable, through a descriptor kept open for it when there is room. */
  async #fsyncDir(dir: string): Promise<void> {
    let fd = this.#dirFds.get(dir);
    if (!fd) {
      if (this.#dirFds.size >= MAX_DIR_FDS) return fsyncDir(dir);
      fd = openFile(dir, 'r');
      this.#dirFds.set(dir, fd);
      fd.catch(() => this.#dirFds.delete(dir));
    }
    await syncFile(await fd);
  }

  /**
   * Stops using the descriptor of a directory that was made again. Not closed: an fsync may still
   * be running on it, and a closed number could be reused by another file meanwhile.
   */
  #forgetDir(dir: string): void {
    this.#dirFds.delete(dir);
  }

  #forget(id: string): void {
    this.#durable.delete(id);
    const state = this.#hashes.get(id);
    this.#hashes.delete(id);
    if (state?.kind === 'worker') this.#hasher.drop(id);
  }

  async abort(id: string): Promise<boolean> {
    this.#forget(id);
    let path: string;
    try {
      path = this.#uploadPath(id);
    } catch {
      return false;
    }
    const existed = await exists(path);
    await rm(path, { recursive: true, force: true });
    return existed;
  }

  async *listUploads(): AsyncIterable<StoredItem> {
    const base = join(this.#root, 'uploads');
    for (const id of await readdirOrEmpty(base)) {
      if (!UPLOAD_ID.test(id)) continue;
      try {
        yield { key: id, modifiedAt: (await stat(join(base, id))).mtime };
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
  }

  async close(): Promise<void> {
    const dirs = [...this.#dirFds.values()];
    this.#dirFds.clear();
    for (const fd of dirs) await fd.then(closeFile).catch(() => undefined);
    await this.#hasher.close();
  }

  async ping(): Promise<void> {
    const probe = join(this.#root, 'uploads', `.ping-${process.pid}`);
    const handle = await open(probe, 'w');
    await handle.close();
    await unlink(probe);
  }
}

/** Resolves when the destination is done with `chunk`; rejects if it errors or closes first. */
function writeChunk(destination: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (destination.destroyed) return reject(new Error('destination closed'));
    // A client that hangs up may leave the write callback uncalled: 'close' ends the wait.
    const onClose = () => reject(new Error('destination closed before the write completed'));
    destination.once('close', onClose);
    destination.write(chunk, (error) => {
      destination.off('close', onClose);
      if (error) reject(error);
      else resolve();
    });
  });
}

async function hashFile(path: string, algorithm: DigestAlgorithm): Promise<string> {
  const hash = newHasher(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
  }
  return `${algorithm}:${hash.digest('hex')}`;
}

async function fsyncDir(dir: string): Promise<void> {
  const fd = await openFile(dir, 'r');
  try {
    await syncFile(fd);
  } finally {
    await closeFile(fd);
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** A direct I/O buffer pool, or undefined where WebAssembly memories (and so aligned buffers) are unavailable. */
function newPool(): AlignedBufferPool | undefined {
  try {
    return alignedBuffersAvailable
      ? new AlignedBufferPool(DIRECT_BUFFER_BYTES, DIRECT_MAX_BUFFERS)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The result of a synchronous step as a promise: what it throws becomes a rejection. */
function settled<T>(step: () => T): Promise<T> {
  try {
    return Promise.resolve(step());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === 'ENOENT';
}
