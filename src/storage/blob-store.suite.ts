// The shared test suite every BlobStore implementation runs (like Distribution's storage driver
// suite): streams in and out, ranges, digest verification, upload sessions, rollback, listing.
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../lib/digest.js';
import {
  AppendSizeError,
  DigestMismatchError,
  OffsetMismatchError,
  UploadNotFoundError,
  type BlobStore,
} from './blob-store.js';

export interface BlobStoreFactory {
  create(): Promise<BlobStore>;
  dispose(): Promise<void>;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size));
  return Readable.from(parts);
}

export function blobStoreSuite(name: string, factory: BlobStoreFactory): void {
  describe(`BlobStore suite: ${name}`, () => {
    let store: BlobStore;
    beforeEach(async () => {
      store = await factory.create();
    });
    afterEach(async () => {
      await store.close();
      await factory.dispose();
    });

    async function put(data: Buffer, id = `u-${randomBytes(6).toString('hex')}`): Promise<string> {
      await store.createUpload(id);
      await store.append(id, 0, chunked(data, 4096));
      return (await store.commit(id, digestOf(data))).digest;
    }

    it('stores a blob through an upload and streams it back, whole and by range', async () => {
      const data = randomBytes(100_000);
      const digest = await put(data);
      expect(await store.stat(digest)).toEqual({ digest, size: data.length });
      expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
      const part = await readAll(await store.read(digest, { start: 10, end: 99 }));
      expect(part.equals(data.subarray(10, 100))).toBe(true);
    });

    it('sends a blob, or a range of it, into a writable and ends it', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const digest = await put(data);
      for (const range of [undefined, { start: 5, end: 2 * 1024 * 1024 + 3 }]) {
        // Like a socket: the bytes are taken (copied) by the time write() calls back.
        const parts: Buffer[] = [];
        const sink = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            parts.push(Buffer.from(chunk));
            setImmediate(callback);
          },
        });
        const finished = new Promise((resolve) => sink.on('finish', resolve));
        let ready = 0;
        await store.sendTo(digest, sink, { range, ready: () => ready++ });
        await finished;
        const expected = range ? data.subarray(range.start, range.end + 1) : data;
        expect(Buffer.concat(parts).equals(expected)).toBe(true);
        expect(ready).toBe(1);
      }
    });

    it('refuses to send a missing blob before anything is written', async () => {
      const sink = new PassThrough();
      let ready = 0;
      await expect(
        store.sendTo(digestOf(Buffer.from('absent')), sink, { ready: () => ready++ }),
      ).rejects.toThrow();
      expect(ready).toBe(0);
      expect(sink.destroyed).toBe(false);
    });

    it('stops sending when the destination goes away', async () => {
      const digest = await put(randomBytes(4 * 1024 * 1024));
      let written = 0;
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          written += chunk.length;
          if (written > 1024 * 1024) callback(new Error('client went away'));
          else callback();
        },
      });
      sink.on('error', () => undefined);
      await expect(store.sendTo(digest, sink, { ready: () => undefined })).rejects.toThrow();
      expect(sink.destroyed).toBe(true);
    });

    it('stops waiting when the destination closes without ever calling back', async () => {
      const digest = await put(randomBytes(3 * 1024 * 1024));
      // Like a socket whose client vanished mid-write: the callback never comes, 'close' does.
      const sink = new Writable({ write: () => setTimeout(() => sink.destroy(), 10) });
      await expect(store.sendTo(digest, sink, { ready: () => undefined })).rejects.toThrow(/closed/);
    });

    it('stores an empty blob', async () => {
      const digest = await put(Buffer.alloc(0));
      expect(await store.stat(digest)).toEqual({ digest, size: 0 });
    });

    it('appends in several requests and verifies the digest over all of them', async () => {
      const data = randomBytes(50_000);
      await store.createUpload('multi');
      expect(await store.append('multi', 0, chunked(data.subarray(0, 20_000), 1000))).toBe(20_000);
      expect(await store.uploadSize('multi')).toBe(20_000);
      await expect(store.append('multi', 10, chunked(data.subarray(20_000), 1000))).rejects.toBeInstanceOf(
        OffsetMismatchError,
      );
      expect(await store.append('multi', 20_000, chunked(data.subarray(20_000), 1000))).toBe(50_000);
      const info = await store.commit('multi', digestOf(data));
      expect(info.size).toBe(50_000);
      expect(await store.uploadSize('multi')).toBeUndefined();
    });

    it('verifies sha512 digests too', async () => {
      const data = randomBytes(3000);
      await store.createUpload('s512');
      await store.append('s512', 0, Readable.from([data]));
      const digest = digestOf(data, 'sha512');
      expect((await store.commit('s512', digest)).digest).toBe(digest);
      expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
    });

    it('refuses a commit whose content does not match, storing nothing and keeping the upload', async () => {
      const data = randomBytes(1000);
      const wrong = digestOf(Buffer.from('not it'));
      await store.createUpload('bad');
      await store.append('bad', 0, Readable.from([data]));
      await expect(store.commit('bad', wrong)).rejects.toBeInstanceOf(DigestMismatchError);
      expect(await store.stat(wrong)).toBeUndefined();
      expect(await store.uploadSize('bad')).toBe(1000);
      expect((await store.commit('bad', digestOf(data))).size).toBe(1000);
    });

    it('rolls an append back when it exceeds its limit, its declared length, or its stream fails', async () => {
      await store.createUpload('rb');
      await store.append('rb', 0, Readable.from([randomBytes(100)]));
      await expect(
        store.append('rb', 100, Readable.from([randomBytes(50)]), { maxBytes: 10 }),
      ).rejects.toBeInstanceOf(AppendSizeError);
      expect(await store.uploadSize('rb')).toBe(100);
      await expect(
        store.append('rb', 100, Readable.from([randomBytes(50)]), { expectedBytes: 60 }),
      ).rejects.toBeInstanceOf(AppendSizeError);
      expect(await store.uploadSize('rb')).toBe(100);
      const failing = new Readable({
        read() {
          this.push(randomBytes(10));
          this.destroy(new Error('reset'));
        },
      });
      await expect(store.append('rb', 100, failing)).rejects.toThrow();
      expect(await store.uploadSize('rb')).toBe(100);
    });

    // Announced appends take one of two ways in a store (gathered and written at once when small,
    // streamed when large): both must hold to the announced length and roll back alike.
    // Sizes on either side of what a store may write at once (the filesystem: 64 KiB written
    // synchronously, up to 256 KiB gathered and written in one call, streamed beyond).
    it.each([
      ['small', 1000],
      ['medium', 100 * 1024],
      ['large', 300 * 1024],
    ])('holds a %s announced append to its length, and commits what was announced', async (_name, size) => {
      const id = `announced-${size}`;
      const data = randomBytes(2 * size);
      await store.createUpload(id);
      await store.append(id, 0, Readable.from([data.subarray(0, size)]), { expectedBytes: size });
      const longer = Readable.from([data.subarray(size, size + 10), data.subarray(size + 10)]);
      await expect(store.append(id, size, longer, { expectedBytes: size - 1 })).rejects.toMatchObject({
        kind: 'length-mismatch',
      });
      expect(await store.uploadSize(id)).toBe(size);
      await expect(
        store.append(id, size, Readable.from([data.subarray(size, 2 * size - 1)]), { expectedBytes: size }),
      ).rejects.toMatchObject({ kind: 'length-mismatch' });
      expect(await store.uploadSize(id)).toBe(size);
      await expect(
        store.append(id, size, Readable.from([data.subarray(size)]), {
          expectedBytes: size,
          maxBytes: size - 1,
        }),
      ).rejects.toMatchObject({ kind: 'too-large' });
      expect(await store.uploadSize(id)).toBe(size);
      // In pieces, as a client's chunks arrive; the running hash covers the whole upload.
      const half = Math.floor(size / 2);
      const pieces = Readable.from([data.subarray(size, size + half), data.subarray(size + half)]);
      expect(await store.append(id, size, pieces, { expectedBytes: size })).toBe(2 * size);
      expect((await store.commit(id, digestOf(data))).size).toBe(2 * size);
      expect((await readAll(await store.read(digestOf(data)))).equals(data)).toBe(true);
    });

    // A small blob sent whole is the common push; stores may take a shorter way to commit it.
    it('refuses a wrong digest for a small blob sent whole, keeping it for the right one', async () => {
      const data = randomBytes(1000);
      await store.createUpload('whole');
      await store.append('whole', 0, Readable.from([data]), { expectedBytes: data.length });
      await expect(store.commit('whole', digestOf(randomBytes(10)))).rejects.toBeInstanceOf(
        DigestMismatchError,
      );
      expect(await store.uploadSize('whole')).toBe(1000);
      const { digest, size } = await store.commit('whole', digestOf(data));
      expect(size).toBe(1000);
      expect((await readAll(await store.read(digest))).equals(data)).toBe(true);
    });

    it('calls an upload cancelled between its append and its commit unknown', async () => {
      const data = randomBytes(1000);
      await store.createUpload('cancelled');
      await store.append('cancelled', 0, Readable.from([data]), { expectedBytes: data.length });
      await store.abort('cancelled');
      await expect(store.commit('cancelled', digestOf(data))).rejects.toBeInstanceOf(UploadNotFoundError);
      expect(await store.stat(digestOf(data))).toBeUndefined();
    });

    it('still verifies correctly after a rolled-back append (hash state restored)', async () => {
      const data = randomBytes(200);
      await store.createUpload('restore');
      await store.append('restore', 0, Readable.from([data.subarray(0, 100)]));
      await expect(
        store.append('restore', 100, Readable.from([randomBytes(30)]), { expectedBytes: 40 }),
      ).rejects.toBeInstanceOf(AppendSizeError);
      await store.append('restore', 100, Readable.from([data.subarray(100)]));
      expect((await store.commit('restore', digestOf(data))).size).toBe(200);
    });

    it('reports unknown uploads and refuses ids that could escape the store', async () => {
      expect(await store.uploadSize('nope')).toBeUndefined();
      await expect(store.append('nope', 0, Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(
        UploadNotFoundError,
      );
      await expect(store.commit('nope', digestOf(Buffer.from('x')))).rejects.toBeInstanceOf(
        UploadNotFoundError,
      );
      expect(await store.uploadSize('../../etc')).toBeUndefined();
      await expect(store.createUpload('../escape')).rejects.toBeInstanceOf(UploadNotFoundError);
      expect(await store.abort('nope')).toBe(false);
    });

    it('aborts uploads and deletes blobs', async () => {
      await store.createUpload('gone');
      expect(await store.abort('gone')).toBe(true);
      expect(await store.uploadSize('gone')).toBeUndefined();
      const digest = await put(randomBytes(10));
      expect(await store.delete(digest)).toBe(true);
      expect(await store.delete(digest)).toBe(false);
      expect(await store.stat(digest)).toBeUndefined();
      await expect(store.read(digest)).rejects.toThrow();
    });

    it('lists blobs and uploads with their modification times', async () => {
      const a = await put(randomBytes(10));
      const b = await put(randomBytes(10));
      await store.createUpload('listed');
      const blobs = await collect(store.list());
      expect(blobs.map((i) => i.key).sort()).toEqual([a, b].sort());
      for (const item of blobs) expect(Date.now() - item.modifiedAt.getTime()).toBeLessThan(60_000);
      const uploads = await collect(store.listUploads());
      expect(uploads.map((u) => u.key)).toEqual(['listed']);
    });

    it('commits the same content twice without harm (idempotent)', async () => {
      const data = randomBytes(500);
      const first = await put(data);
      const second = await put(data);
      expect(second).toBe(first);
      expect((await readAll(await store.read(first))).equals(data)).toBe(true);
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
