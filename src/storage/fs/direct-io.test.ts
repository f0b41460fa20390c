// Direct I/O in the filesystem store: what the shared suite cannot see. Bytes must reach the
// disk around the page cache (counted), appends that start or end mid-block must leave exactly
// the bytes received, a failed append must leave no block behind, and the fixed buffer pool must
// neither leak on failures nor refuse service when it runs out.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../lib/digest.js';
import { AlignedBufferPool, DIRECT_ALIGNMENT, probeDirectIo } from './direct-io.js';
import { FsBlobStore } from './fs-blob-store.js';

const MiB = 1024 * 1024;

/** A socket-like sink: takes a copy of each chunk and calls back after `delayMs`. */
function collector(delayMs = 0): { sink: Writable; bytes: () => Buffer; finished: Promise<void> } {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(Buffer.from(chunk));
      setTimeout(callback, delayMs);
    },
  });
  const finished = new Promise<void>((resolve) => sink.on('finish', resolve));
  return { sink, bytes: () => Buffer.concat(parts), finished };
}

describe('FsBlobStore direct I/O', () => {
  let root = '';
  let store: FsBlobStore;
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'palisade-direct-'));
    store = new FsBlobStore(root, { directIo: 'on' });
    await store.init();
    expect(store.directIo.mode).toBe('on');
  });
  afterEach(async () => {
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function upload(id: string, parts: Buffer[]): Promise<number> {
    await store.createUpload(id);
    let offset = 0;
    for (const part of parts) {
      // Each part arrives in odd-sized pieces, as a socket delivers them.
      const pieces: Buffer[] = [];
      for (let i = 0; i < part.length; i += 65_521) pieces.push(part.subarray(i, i + 65_521));
      offset = await store.append(id, offset, Readable.from(pieces));
      expect(offset).toBe(parts.slice(0, parts.indexOf(part) + 1).reduce((n, p) => n + p.length, 0));
      // The file holds exactly what was received: no padding past the end, ever.
      expect(await store.uploadSize(id)).toBe(offset);
    }
    return offset;
  }

  it('writes big appends around the page cache, exact to the byte across unaligned appends', async () => {
    // Starts and ends that fall mid-block, a part smaller than a block, parts spanning buffers.
    const parts = [randomBytes(5000), randomBytes(9 * MiB + 123), randomBytes(10), randomBytes(4 * MiB)];
    const data = Buffer.concat(parts);
    const size = await upload('unaligned', parts);
    expect(size).toBe(data.length);
    const written = store.directIo.bytesWritten;
    // All whole blocks went direct; only the tails of appends (under a block each) did not.
    expect(written).toBeGreaterThan(data.length - parts.length * DIRECT_ALIGNMENT);
    const { digest } = await store.commit('unaligned', digestOf(data));
    const hex = digest.slice('sha256:'.length);
    const path = join(root, 'blobs', 'sha256', hex.slice(0, 2), hex);
    expect(statSync(path).size).toBe(data.length);
    expect(readFileSync(path).equals(data)).toBe(true);
  });

  it('sends big blobs and ranges around the page cache, exact to the byte', async () => {
    const data = randomBytes(13 * MiB + 4097);
    await upload('send', [data]);
    const { digest } = await store.commit('send', digestOf(data));
    const ranges = [
      undefined,
      { start: 1, end: 4 * MiB }, // unaligned start, ends one byte into the second buffer
      { start: 4095, end: 4096 + 2 * MiB },
      { start: 12 * MiB + 7, end: data.length - 1 }, // the short last block
    ];
    let expectedRead = 0;
    for (const range of ranges) {
      const before = store.directIo.bytesRead;
      const { sink, bytes, finished } = collector();
      await store.sendTo(digest, sink, { range, ready: () => undefined });
      await finished;
      const expected = range ? data.subarray(range.start, range.end + 1) : data;
      expect(bytes().equals(expected)).toBe(true);
      expect(store.directIo.bytesRead - before).toBeGreaterThanOrEqual(expected.length);
      expectedRead += expected.length;
    }
    expect(store.directIo.bytesRead).toBeGreaterThanOrEqual(expectedRead);
  });

  it('sends blobs under 1 MiB through the page cache', async () => {
    const data = randomBytes(MiB - 1);
    await upload('small-send', [data]);
    const { digest } = await store.commit('small-send', digestOf(data));
    const { sink, bytes, finished } = collector();
    await store.sendTo(digest, sink, { ready: () => undefined });
    await finished;
    expect(bytes().equals(data)).toBe(true);
    expect(store.directIo.bytesRead).toBe(0);
  });

  it('rolls a failed append back to its offset after whole blocks went to disk, and continues', async () => {
    const first = randomBytes(3 * MiB + 5);
    await upload('rollback', [first]);
    let sent = 0;
    const failing = new Readable({
      read() {
        // Far past two buffers, so direct writes are in flight when the stream fails.
        if (sent >= 11 * MiB) {
          this.destroy(new Error('connection reset'));
          return;
        }
        sent += MiB;
        this.push(randomBytes(MiB));
      },
    });
    await expect(store.append('rollback', first.length, failing)).rejects.toThrow(/reset/);
    expect(store.directIo.bytesWritten).toBeGreaterThan(8 * MiB);
    expect(await store.uploadSize('rollback')).toBe(first.length);
    const second = randomBytes(2 * MiB + 3);
    expect(await store.append('rollback', first.length, Readable.from([second]))).toBe(
      first.length + second.length,
    );
    const data = Buffer.concat([first, second]);
    expect((await store.commit('rollback', digestOf(data))).size).toBe(data.length);
  });

  it('serves concurrent sends beyond the buffer pool through the page cache', async () => {
    const data = randomBytes(6 * MiB);
    await upload('busy', [data]);
    const { digest } = await store.commit('busy', digestOf(data));
    // Slow receivers keep each send's buffers taken while the next ones start.
    const receivers = [collector(5), collector(5), collector(5)];
    await Promise.all(receivers.map(({ sink }) => store.sendTo(digest, sink, { ready: () => undefined })));
    await Promise.all(receivers.map(({ finished }) => finished));
    for (const { bytes } of receivers) expect(bytes().equals(data)).toBe(true);
    // The pool holds two sends' worth: the third went through the page cache.
    expect(store.directIo.bytesRead).toBe(2 * data.length);
  });

  it('never reuses the buffers of a failed send, and does not lose them from the pool', async () => {
    const data = randomBytes(6 * MiB);
    await upload('failing-send', [data]);
    const { digest } = await store.commit('failing-send', digestOf(data));
    for (let i = 0; i < 3; i++) {
      let written = 0;
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          written += chunk.length;
          callback(written > MiB ? new Error('client went away') : null);
        },
      });
      sink.on('error', () => undefined);
      await expect(store.sendTo(digest, sink, { ready: () => undefined })).rejects.toThrow();
    }
    // Three failures gave up twelve buffers; two full sends still go direct side by side.
    const before = store.directIo.bytesRead;
    const receivers = [collector(5), collector(5)];
    await Promise.all(receivers.map(({ sink }) => store.sendTo(digest, sink, { ready: () => undefined })));
    await Promise.all(receivers.map(({ finished }) => finished));
    for (const { bytes } of receivers) expect(bytes().equals(data)).toBe(true);
    expect(store.directIo.bytesRead - before).toBe(2 * data.length);
  });
});

describe('direct I/O modes and probing', () => {
  it('keeps uploads in the page cache when off or when only writes are direct sends stay cached', async () => {
    for (const mode of ['off', 'writes'] as const) {
      const root = mkdtempSync(join(tmpdir(), 'palisade-direct-'));
      try {
        const store = new FsBlobStore(root, { directIo: mode });
        await store.init();
        const data = randomBytes(5 * MiB);
        await store.createUpload('u');
        await store.append('u', 0, Readable.from([data]));
        const { digest } = await store.commit('u', digestOf(data));
        const { sink, bytes, finished } = collector();
        await store.sendTo(digest, sink, { ready: () => undefined });
        await finished;
        expect(bytes().equals(data)).toBe(true);
        expect(store.directIo).toEqual({
          mode,
          bytesWritten: mode === 'writes' ? 5 * MiB : 0,
          bytesRead: 0,
        });
        await store.close();
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }
  });

  it('finds direct I/O unusable where the probe file cannot be made', async () => {
    const pool = new AlignedBufferPool(64 * 1024, 1);
    expect(await probeDirectIo(join(tmpdir(), 'palisade-missing-dir', 'nested'), pool)).toBe(false);
    // The probe gave its buffer back.
    expect(pool.take(1)).toHaveLength(1);
  });

  it('hands out page-aligned buffers up to its ceiling, and makes new ones for discarded ones', () => {
    const pool = new AlignedBufferPool(64 * 1024, 3);
    const two = pool.take(2)!;
    expect(two.map((b) => b.length)).toEqual([65536, 65536]);
    expect(pool.take(2)).toBeUndefined();
    const one = pool.take(1)!;
    pool.discard(two);
    const again = pool.take(2)!;
    expect(again.some((b) => two.includes(b))).toBe(false);
    pool.give(one);
    expect(pool.take(1)![0]).toBe(one[0]);
  });
});
