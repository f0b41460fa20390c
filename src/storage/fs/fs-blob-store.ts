// Filesystem BlobStore. Blobs live at blobs/<alg>/<first two hex>/<hex>; uploads at
// uploads/<id>/data. A blob becomes visible only by an atomic rename after its bytes are fsynced
// and their digest verified, so a crash at any moment leaves either no blob or a whole one.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { newHasher, parseDigest, type DigestAlgorithm } from '../../lib/digest.js';
import { HashOffload } from '../../lib/hash-offload.js';
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

export class FsBlobStore implements BlobStore {
  readonly streamingAlgorithm: DigestAlgorithm = 'sha256';
  readonly #root: string;
  /** Bytes of each upload that the offloaded hash has seen (absent: hash by re-reading). */
  readonly #hashedUpTo = new Map<string, number>();
  readonly #hasher = new HashOffload();
  readonly #uploadLocks = new KeyedMutex();

  constructor(root: string) {
    this.#root = root;
  }

  async init(): Promise<void> {
    await mkdir(join(this.#root, 'blobs'), { recursive: true });
    await mkdir(join(this.#root, 'uploads'), { recursive: true });
  }

  #blobPath(digest: string): string {
    const parsed = parseDigest(digest);
    if (typeof parsed !== 'object') throw new Error('invalid digest');
    return join(this.#root, 'blobs', parsed.algorithm, parsed.hex.slice(0, 2), parsed.hex);
  }

  #uploadDir(id: string): string {
    if (!UPLOAD_ID.test(id)) throw new UploadNotFoundError(id);
    return join(this.#root, 'uploads', id);
  }

  #uploadData(id: string): string {
    return join(this.#uploadDir(id), 'data');
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
      highWaterMark: 1024 * 1024,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
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
    const dir = this.#uploadDir(id);
    await mkdir(dir, { recursive: true });
    const handle = await open(join(dir, 'data'), 'wx');
    await handle.close();
    this.#hasher.begin(id, this.streamingAlgorithm);
    this.#hashedUpTo.set(id, 0);
  }

  async uploadSize(id: string): Promise<number | undefined> {
    try {
      return (await stat(this.#uploadData(id))).size;
    } catch (error) {
      if (isNotFound(error) || error instanceof UploadNotFoundError) return undefined;
      throw error;
    }
  }

  append(id: string, offset: number, source: Readable, options: AppendOptions = {}): Promise<number> {
    return this.#uploadLocks.run(id, async () => {
      const path = this.#uploadData(id);
      const current = await this.uploadSize(id);
      if (current === undefined) throw new UploadNotFoundError(id);
      if (current !== offset) throw new OffsetMismatchError(current);

      const hashing =
        this.#hashedUpTo.get(id) === offset && this.#hasher.usable ? this.#hasher.open(id) : undefined;
      this.#hashedUpTo.delete(id);
      const limit = options.maxBytes ?? Number.POSITIVE_INFINITY;
      let received = 0;
      // Flushing every few MiB while streaming was measured slower (writes and fdatasync on one
      // file serialise); the commit fsyncs once instead.
      try {
        await pipeline(
          source,
          async function* (chunks: AsyncIterable<Buffer>) {
            for await (const chunk of chunks) {
              received += chunk.length;
              if (received > limit) throw new AppendSizeError('too-large', received);
              if (hashing) await hashing.update(chunk);
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
        if (hashing) {
          this.#hasher.rollback(id);
          this.#hashedUpTo.set(id, offset);
        }
        throw error;
      }
      if (hashing) {
        hashing.flush();
        this.#hashedUpTo.set(id, offset + received);
      }
      return offset + received;
    });
  }

  commit(id: string, digest: string): Promise<BlobInfo> {
    return this.#uploadLocks.run(id, async () => {
      const parsed = parseDigest(digest);
      if (typeof parsed !== 'object') throw new Error('invalid digest');
      const path = this.#uploadData(id);
      const size = await this.uploadSize(id);
      if (size === undefined) throw new UploadNotFoundError(id);

      const handle = await open(path, 'r+');
      let actual: string;
      try {
        const streamed =
          this.#hashedUpTo.get(id) === size && parsed.algorithm === this.streamingAlgorithm
            ? await this.#hasher.digest(id)
            : undefined;
        // Without a streamed hash (restart, another algorithm, worker lost): hash what is on disk.
        actual = streamed ? `${parsed.algorithm}:${streamed}` : await hashFile(path, parsed.algorithm);
        if (actual !== digest) throw new DigestMismatchError(digest, actual);
        await handle.sync();
      } finally {
        await handle.close();
      }
      const target = this.#blobPath(digest);
      const targetDir = join(target, '..');
      await mkdir(targetDir, { recursive: true });
      await rename(path, target);
      await fsyncDir(targetDir);
      this.#forget(id);
      await rm(this.#uploadDir(id), { recursive: true, force: true });
      return { digest, size };
    });
  }

  #forget(id: string): void {
    if (this.#hashedUpTo.delete(id)) this.#hasher.drop(id);
  }

  async abort(id: string): Promise<boolean> {
    this.#forget(id);
    let dir: string;
    try {
      dir = this.#uploadDir(id);
    } catch {
      return false;
    }
    const existed = (await this.uploadSize(id)) !== undefined;
    await rm(dir, { recursive: true, force: true });
    return existed;
  }

  async *listUploads(): AsyncIterable<StoredItem> {
    const base = join(this.#root, 'uploads');
    for (const id of await readdirOrEmpty(base)) {
      if (!UPLOAD_ID.test(id)) continue;
      try {
        const s = await stat(join(base, id));
        let modifiedAt = s.mtime;
        try {
          modifiedAt = (await stat(join(base, id, 'data'))).mtime;
        } catch {
          // A directory without data is a crash leftover; its own mtime is what we have.
        }
        yield { key: id, modifiedAt };
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
  }

  close(): Promise<void> {
    return this.#hasher.close();
  }

  async ping(): Promise<void> {
    const probe = join(this.#root, 'uploads', `.ping-${process.pid}`);
    const handle = await open(probe, 'w');
    await handle.close();
    await unlink(probe);
  }
}

async function hashFile(path: string, algorithm: DigestAlgorithm): Promise<string> {
  const hash = newHasher(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
  }
  return `${algorithm}:${hash.digest('hex')}`;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
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

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === 'ENOENT';
}
