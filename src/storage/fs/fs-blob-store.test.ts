// Runs the shared BlobStore suite on the filesystem implementation, plus what only a
// filesystem can show: where bytes live while uploading, and that nothing leaks a path.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { digestOf } from '../../lib/digest.js';
import { blobStoreSuite } from '../blob-store.suite.js';
import { FsBlobStore } from './fs-blob-store.js';

// Each direct I/O mode takes other paths through appends and sends: all of them run the suite,
// and so does a store that makes every upload file as it is needed (no spares thread).
for (const [directIo, spareUploads] of [
  ['on', undefined],
  ['writes', undefined],
  ['off', undefined],
  ['off', false],
] as const) {
  let dir = '';
  blobStoreSuite(`filesystem, direct I/O ${directIo}${spareUploads === false ? ', no spare uploads' : ''}`, {
    async create() {
      dir = mkdtempSync(join(tmpdir(), 'palisade-fs-'));
      const store = new FsBlobStore(dir, { directIo, ...(spareUploads === false ? { spareUploads } : {}) });
      await store.init();
      // The suite would prove nothing about direct I/O if the test directory refused it.
      expect(store.directIo.mode).toBe(directIo);
      return store;
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
}

describe('FsBlobStore specifics', () => {
  it('keeps upload bytes out of the blob tree until the commit renames them in', async () => {
    const root = mkdtempSync(join(tmpdir(), 'palisade-fs-'));
    try {
      const store = new FsBlobStore(root);
      await store.init();
      const data = Buffer.from('hello world');
      const u1Id = await store.createUpload();
      await store.append(u1Id, 0, Readable.from([data]));
      expect(readdirSync(join(root, 'blobs'))).toEqual([]);
      const digest = digestOf(data);
      await store.commit(u1Id, digest);
      const hex = digest.slice(7);
      expect(readdirSync(join(root, 'blobs', 'sha256', hex.slice(0, 2)))).toEqual([hex]);
      expect(readdirSync(join(root, 'uploads'))).not.toContain(u1Id);
      await store.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('verifies a commit after a restart by re-reading the upload (no in-memory hash state)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'palisade-fs-'));
    try {
      const first = new FsBlobStore(root);
      await first.init();
      const data = Buffer.from('survives a restart');
      const u2Id = await first.createUpload();
      await first.append(u2Id, 0, Readable.from([data.subarray(0, 5)]));
      const second = new FsBlobStore(root);
      await second.append(u2Id, 5, Readable.from([data.subarray(5)]));
      await expect(second.commit(u2Id, digestOf(Buffer.from('other')))).rejects.toThrow(/does not match/);
      expect((await second.commit(u2Id, digestOf(data))).size).toBe(data.length);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('hands out upload files made ahead by a thread, each once, and removes unused ones on close', async () => {
    const root = mkdtempSync(join(tmpdir(), 'palisade-fs-'));
    try {
      const store = new FsBlobStore(root, { spareUploads: { low: 8, batch: 16 } });
      await store.init();
      // The first is made on the spot; it asks the thread for a batch.
      const ids = [await store.createUpload()];
      await until(() => store.spareUploads > 0);
      ids.push(...(await Promise.all(Array.from({ length: 40 }, () => store.createUpload()))));
      expect(new Set(ids).size).toBe(ids.length);
      for (const id of ids) expect(await store.uploadSize(id)).toBe(0);
      // Spares waiting for an upload are not sessions: listing (and so expiry) leaves them out.
      await until(() => store.spareUploads > 0);
      const listed: string[] = [];
      for await (const item of store.listUploads()) listed.push(item.key);
      expect(listed.sort()).toEqual([...ids].sort());
      expect(readdirSync(join(root, 'uploads')).length).toBeGreaterThan(ids.length);
      await store.close();
      expect(readdirSync(join(root, 'uploads')).sort()).toEqual([...ids].sort());
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('removes spare upload files past their age instead of handing them out', async () => {
    const root = mkdtempSync(join(tmpdir(), 'palisade-fs-'));
    let now = 1_000_000;
    try {
      const store = new FsBlobStore(root, { spareUploads: { maxAgeMs: 60_000, now: () => now } });
      await store.init();
      const first = await store.createUpload();
      await until(() => store.spareUploads > 0);
      const made = readdirSync(join(root, 'uploads')).filter((name) => name !== first);
      expect(made.length).toBeGreaterThan(0);
      now += 60_001;
      const next = await store.createUpload();
      expect(made).not.toContain(next);
      expect(await store.uploadSize(next)).toBe(0);
      await until(() => made.every((name) => !readdirSync(join(root, 'uploads')).includes(name)));
      await store.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
