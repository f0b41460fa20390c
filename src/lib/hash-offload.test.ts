// The worker-thread hash: same digests as hashing inline, rollback of a failed append, and
// memory that stays bounded when bytes arrive faster than they are hashed.
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { HashOffload } from './hash-offload.js';

describe('HashOffload', () => {
  let offload: HashOffload;
  afterEach(async () => offload.close());

  it('computes the same digest as hashing inline, across several appends', async () => {
    offload = new HashOffload();
    const parts = [randomBytes(10), randomBytes(3 * 1024 * 1024 + 7), randomBytes(1)];
    offload.begin('a', 'sha256');
    for (const part of parts) {
      const feed = offload.open('a');
      for (let i = 0; i < part.length; i += 65536) await feed.update(part.subarray(i, i + 65536));
      feed.flush();
    }
    const expected = createHash('sha256').update(Buffer.concat(parts)).digest('hex');
    expect(await offload.digest('a')).toBe(expected);
    expect(offload.usable).toBe(true);
  });

  it('keeps uploads apart and supports sha512', async () => {
    offload = new HashOffload();
    const a = randomBytes(5000);
    const b = randomBytes(7000);
    offload.begin('a', 'sha256');
    offload.begin('b', 'sha512');
    const fa = offload.open('a');
    const fb = offload.open('b');
    await fa.update(a);
    await fb.update(b);
    fa.flush();
    fb.flush();
    expect(await offload.digest('b')).toBe(createHash('sha512').update(b).digest('hex'));
    expect(await offload.digest('a')).toBe(createHash('sha256').update(a).digest('hex'));
  });

  it('undoes the bytes of an append that is rolled back', async () => {
    offload = new HashOffload();
    const kept = randomBytes(2 * 1024 * 1024);
    offload.begin('r', 'sha256');
    const first = offload.open('r');
    await first.update(kept);
    first.flush();
    const failed = offload.open('r');
    await failed.update(randomBytes(3 * 1024 * 1024)); // partly posted, partly batched
    offload.rollback('r');
    expect(await offload.digest('r')).toBe(createHash('sha256').update(kept).digest('hex'));
  });

  it('bounds the bytes in flight to the worker', async () => {
    offload = new HashOffload();
    offload.begin('big', 'sha256');
    const feed = offload.open('big');
    const chunk = randomBytes(1024 * 1024);
    const hash = createHash('sha256');
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    for (let i = 0; i < 256; i++) {
      await feed.update(chunk);
      hash.update(chunk);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    feed.flush();
    expect(await offload.digest('big')).toBe(hash.digest('hex'));
    expect(peak).toBeLessThan(100 * 1024 * 1024);
  });
});
