// Direct I/O (O_DIRECT) for big blobs.
//
// Palisade fsyncs every blob before it acknowledges a push, so the page cache gains a push
// nothing: buffered writes copy each byte into cache pages, and the fsync then writes them all
// out anyway. Direct I/O moves the bytes between a few reused page-aligned buffers and the disk
// instead, and leaves memory to the database and to small, hot blobs. Big blobs are read the same
// way, so that a blob written around the cache is not dragged through it on its first pull.
//
// O_DIRECT needs the buffer address, the file offset and the length to be multiples of the
// device's logical block size. Node has no aligned allocation, but a WebAssembly memory is mapped
// in whole pages, so its buffer starts page-aligned. Whether a filesystem takes O_DIRECT at all
// (tmpfs on older kernels, some FUSE and network filesystems do not) is probed once at start-up;
// the store keeps to buffered I/O where the probe fails.
import { close, constants, open, read, write } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { promisify } from 'node:util';

/** Offsets, lengths and buffer addresses are multiples of this (covers 512 B and 4 KiB sectors). */
export const DIRECT_ALIGNMENT = 4096;
const WASM_PAGE_BYTES = 65536;

// TypeScript's Node libs leave out the WebAssembly globals; only the memory constructor is used.
type WasmMemory = new (descriptor: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
const WasmMemory = (globalThis as { WebAssembly?: { Memory: WasmMemory } }).WebAssembly?.Memory;

/** Whether aligned buffers can be made here (not under --jitless, which removes WebAssembly). */
export const alignedBuffersAvailable = WasmMemory !== undefined;

const openFile = promisify(open);
const closeFile = promisify(close);
const readFile = promisify(read);
const writeFile = promisify(write);

/**
 * Page-aligned buffers, reused. At most `maxBuffers` ever exist, so direct I/O has a fixed memory
 * ceiling; a caller that cannot get its buffers uses buffered I/O for that request instead.
 */
export class AlignedBufferPool {
  readonly #free: Buffer[] = [];
  #created = 0;

  constructor(
    readonly bufferBytes: number,
    readonly maxBuffers: number,
  ) {
    if (bufferBytes % WASM_PAGE_BYTES !== 0) throw new Error('buffer size must be a multiple of 64 KiB');
  }

  /** `count` buffers, or undefined when handing them out would pass the ceiling. */
  take(count: number): Buffer[] | undefined {
    if (this.#free.length + (this.maxBuffers - this.#created) < count) return undefined;
    const buffers: Buffer[] = [];
    try {
      while (buffers.length < count) buffers.push(this.#free.pop() ?? this.#create());
    } catch {
      // Out of address space for another memory: buffered I/O serves this request.
      this.give(buffers);
      return undefined;
    }
    return buffers;
  }

  give(buffers: Buffer[]): void {
    this.#free.push(...buffers);
  }

  /**
   * Gives up buffers whose use may not be over (a failed send: a socket or a read may still hold
   * them). They are never handed out again, so no other request's bytes can land in them; the
   * garbage collector frees them once nothing refers to them.
   */
  discard(buffers: Buffer[]): void {
    this.#created -= buffers.length;
  }

  #create(): Buffer {
    const pages = this.bufferBytes / WASM_PAGE_BYTES;
    if (!WasmMemory) throw new Error('WebAssembly is not available');
    const memory = new WasmMemory({ initial: pages, maximum: pages });
    this.#created++;
    return Buffer.from(memory.buffer);
  }
}

/**
 * Whether direct I/O works in `dir`: the filesystem accepts O_DIRECT and a pool buffer is aligned
 * well enough for it. Writes, reads back and removes one block in a probe file.
 */
export async function probeDirectIo(dir: string, pool: AlignedBufferPool): Promise<boolean> {
  const buffers = pool.take(1);
  if (!buffers) return false;
  const [buffer] = buffers as [Buffer];
  const path = `${dir}/.direct-io-probe-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = await openFile(
      path,
      constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT,
      0o600,
    );
    buffer.fill(0x5a, 0, DIRECT_ALIGNMENT);
    const { bytesWritten } = await writeFile(fd, buffer, 0, DIRECT_ALIGNMENT, 0);
    buffer.fill(0, 0, DIRECT_ALIGNMENT);
    const { bytesRead } = await readFile(fd, buffer, 0, DIRECT_ALIGNMENT, 0);
    return bytesWritten === DIRECT_ALIGNMENT && bytesRead === DIRECT_ALIGNMENT && buffer[100] === 0x5a;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) await closeFile(fd).catch(() => undefined);
    await unlink(path).catch(() => undefined);
    pool.give(buffers);
  }
}

/** Opens a file for direct I/O. */
export function openDirect(path: string, flags: number): Promise<number> {
  return openFile(path, flags | constants.O_DIRECT);
}

async function writeFully(fd: number, buffer: Buffer, offset: number, length: number, position: number) {
  for (let done = 0; done < length;) {
    const { bytesWritten } = await writeFile(fd, buffer, offset + done, length - done, position + done);
    if (bytesWritten === 0) throw new Error('write made no progress');
    done += bytesWritten;
  }
}

/**
 * Appends a stream of chunks to an existing file with direct I/O, through two buffers: one fills
 * while the other is written. Only whole aligned blocks go to the disk directly; the last partial
 * block of an append is written through the page cache, so the file never holds padding and its
 * size is always the number of bytes received (a crash can leave no garbage past the end).
 * An append that starts mid-block first reads that block's head back, then rewrites the block.
 */
export class DirectAppender {
  readonly #path: string;
  readonly #fd: number;
  readonly #buffers: Buffer[];
  readonly #pool: AlignedBufferPool;
  #current = 0;
  /** Bytes in the current buffer. */
  #fill = 0;
  /** File position of the current buffer's first byte; always aligned. */
  #position: number;
  /** The write of the other buffer, if one is running. */
  #pending: Promise<void> | undefined;
  #closed = false;
  /** Counts the bytes handed to the disk with direct I/O, as they go. */
  readonly #stats: { bytesWritten: number };

  private constructor(
    path: string,
    fd: number,
    buffers: Buffer[],
    pool: AlignedBufferPool,
    position: number,
    stats: { bytesWritten: number },
  ) {
    this.#path = path;
    this.#fd = fd;
    this.#buffers = buffers;
    this.#pool = pool;
    this.#position = position;
    this.#stats = stats;
  }

  /** An appender at `offset` (the file's current size), or undefined when the pool is exhausted. */
  static async open(
    path: string,
    offset: number,
    pool: AlignedBufferPool,
    stats: { bytesWritten: number },
  ): Promise<DirectAppender | undefined> {
    const buffers = pool.take(2);
    if (!buffers) return undefined;
    let fd: number;
    try {
      fd = await openDirect(path, constants.O_RDWR);
    } catch (error) {
      pool.give(buffers);
      throw error;
    }
    const base = offset - (offset % DIRECT_ALIGNMENT);
    const appender = new DirectAppender(path, fd, buffers, pool, base, stats);
    if (base < offset) {
      try {
        // The block being continued: its head is rewritten along with the new bytes.
        const { bytesRead } = await readFile(fd, buffers[0]!, 0, DIRECT_ALIGNMENT, base);
        if (bytesRead !== offset - base) throw new Error('upload file is shorter than its offset');
        appender.#fill = bytesRead;
      } catch (error) {
        await appender.abort();
        throw error;
      }
    }
    return appender;
  }

  /** Takes a chunk; resolves once it is copied (and, when a buffer filled, that buffer is queued). */
  async write(chunk: Buffer): Promise<void> {
    for (let offset = 0; offset < chunk.length;) {
      const buffer = this.#buffers[this.#current]!;
      const copied = chunk.copy(buffer, this.#fill, offset);
      this.#fill += copied;
      offset += copied;
      if (this.#fill === buffer.length) await this.#rotate();
    }
  }

  async #rotate(): Promise<void> {
    const buffer = this.#buffers[this.#current]!;
    // The other buffer is refilled next: its write must be done first.
    await this.#pending;
    const writing = writeFully(this.#fd, buffer, 0, buffer.length, this.#position);
    // Awaited (and rethrown) on the next rotation or at finish; marked handled until then.
    writing.catch(() => undefined);
    this.#pending = writing;
    this.#stats.bytesWritten += buffer.length;
    this.#position += buffer.length;
    this.#current ^= 1;
    this.#fill = 0;
  }

  /** Writes what is buffered and closes; the file then holds exactly the bytes appended. */
  async finish(): Promise<void> {
    try {
      await this.#pending;
      const buffer = this.#buffers[this.#current]!;
      const whole = this.#fill - (this.#fill % DIRECT_ALIGNMENT);
      if (whole > 0) {
        await writeFully(this.#fd, buffer, 0, whole, this.#position);
        this.#stats.bytesWritten += whole;
      }
      const rest = this.#fill - whole;
      if (rest > 0) {
        const fd = await openFile(this.#path, 'r+');
        try {
          await writeFully(fd, buffer, whole, rest, this.#position + whole);
        } finally {
          await closeFile(fd);
        }
      }
    } finally {
      await this.#release();
    }
  }

  /** Stops: waits for a running write (so none lands after the caller truncates) and closes. */
  async abort(): Promise<void> {
    await this.#pending?.catch(() => undefined);
    await this.#release();
  }

  async #release(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pool.give(this.#buffers);
    await closeFile(this.#fd);
  }
}

/**
 * Sends bytes `start`..`end` (inclusive) of a direct-I/O file into `send`, reading aligned blocks
 * ahead into a ring of buffers while earlier ones are sent. `send` must be done with a buffer when
 * it resolves: a buffer is read into again only after that. Returns the bytes read. On failure the
 * buffers may still be in use by a read or a send, so the caller must discard them, not reuse them.
 */
export async function sendDirect(
  fd: number,
  start: number,
  end: number,
  buffers: Buffer[],
  send: (chunk: Buffer) => Promise<void>,
): Promise<number> {
  const blockBytes = buffers[0]!.length;
  const base = start - (start % DIRECT_ALIGNMENT);
  const blocks = Math.ceil((end + 1 - base) / blockBytes);
  const reads: Promise<{ bytesRead: number }>[] = [];
  const startRead = (block: number) => {
    if (block >= blocks) return;
    const reading = readFile(fd, buffers[block % buffers.length]!, 0, blockBytes, base + block * blockBytes);
    reading.catch(() => undefined);
    reads[block] = reading;
  };
  for (let block = 0; block < buffers.length - 1; block++) startRead(block);
  let sending: Promise<void> | undefined;
  let directBytes = 0;
  for (let block = 0; block < blocks; block++) {
    const position = base + block * blockBytes;
    const { bytesRead } = await reads[block]!;
    directBytes += bytesRead;
    const from = block === 0 ? start - base : 0;
    const to = Math.min(blockBytes, end + 1 - position);
    if (bytesRead < to) throw new Error('blob ended early');
    await sending;
    sending = send(buffers[block % buffers.length]!.subarray(from, to));
    sending.catch(() => undefined);
    // The buffer just freed by the awaited send is the one this read fills.
    startRead(block + buffers.length - 1);
  }
  await sending;
  return directBytes;
}
