// Deterministic, streamable blob content for the registry benchmark: lets the harness push a
// 1 GiB blob without ever holding it in memory, with a digest known before the timed upload
// starts. Content is a seeded pseudo-random 1 MiB block repeated, with each block's first
// 16 bytes overwritten by (seed, block index) so that no two blocks (or blobs) are equal.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

export const BLOCK_SIZE = 1024 * 1024;

/** mulberry32: tiny, fast, good enough to make incompressible bytes from a seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function randomBlock(seed: number): Buffer {
  const next = mulberry32(seed);
  const block = Buffer.allocUnsafe(BLOCK_SIZE);
  for (let offset = 0; offset < BLOCK_SIZE; offset += 4) block.writeUInt32LE(next(), offset);
  return block;
}

/** A blob of `size` bytes whose content is a pure function of `seed`. */
export class BlobSource {
  readonly size: number;
  readonly seed: number;
  private readonly base: Buffer;
  private digestCache: string | undefined;

  constructor(size: number, seed: number) {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid blob size ${size}`);
    this.size = size;
    this.seed = seed >>> 0;
    this.base = randomBlock(this.seed);
  }

  /** A fresh buffer holding block `index` (the transport may keep it, so it is never reused). */
  private block(index: number): Buffer {
    const block = Buffer.allocUnsafe(BLOCK_SIZE);
    this.base.copy(block);
    block.writeUInt32LE(this.seed, 0);
    block.writeUInt32LE(0x50414c49, 4); // "PALI", only to make the header recognisable
    block.writeBigUInt64LE(BigInt(index), 8);
    return block;
  }

  /** Yields the bytes in [start, end) in pieces of at most 1 MiB. */
  *chunks(start = 0, end = this.size): Generator<Buffer> {
    if (start < 0 || end > this.size || start > end) {
      throw new RangeError(`invalid range ${start}-${end} of a ${this.size}-byte blob`);
    }
    let position = start;
    while (position < end) {
      const index = Math.floor(position / BLOCK_SIZE);
      const blockStart = index * BLOCK_SIZE;
      const from = position - blockStart;
      const to = Math.min(BLOCK_SIZE, end - blockStart);
      const block = this.block(index);
      yield from === 0 && to === BLOCK_SIZE ? block : block.subarray(from, to);
      position = blockStart + to;
    }
  }

  /** The same bytes as a byte stream (an async iterable), which fetch() accepts as a streaming body. */
  stream(start = 0, end = this.size): Readable {
    return Readable.from(this.chunks(start, end), { objectMode: false, highWaterMark: 2 * BLOCK_SIZE });
  }

  /** `sha256:<hex>` of the whole blob; computed once (a full pass over the content). */
  digest(): string {
    if (this.digestCache === undefined) {
      const hash = createHash('sha256');
      for (const chunk of this.chunks()) hash.update(chunk);
      this.digestCache = `sha256:${hash.digest('hex')}`;
    }
    return this.digestCache;
  }
}
