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

// Each direct I/O mode takes other paths through appends and sends: all of them run the suite.
for (const directIo of ['on', 'writes', 'off'] as const) {
  let dir = '';
  blobStoreSuite(`filesystem, direct I/O ${directIo}`, {
    async create() {
      dir = mkdtempSync(join(tmpdir(), 'palisade-fs-'));
      const store = new FsBlobStore(dir, { directIo });
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
      await store.createUpload('u1');
      await store.append('u1', 0, Readable.from([data]));
      expect(readdirSync(join(root, 'blobs'))).toEqual([]);
      const digest = digestOf(data);
      await store.commit('u1', digest);
      const hex = digest.slice(7);
      expect(readdirSync(join(root, 'blobs', 'sha256', hex.slice(0, 2)))).toEqual([hex]);
      expect(readdirSync(join(root, 'uploads'))).toEqual([]);
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
      await first.createUpload('u2');
      await first.append('u2', 0, Readable.from([data.subarray(0, 5)]));
      const second = new FsBlobStore(root);
      await second.append('u2', 5, Readable.from([data.subarray(5)]));
      await expect(second.commit('u2', digestOf(Buffer.from('other')))).rejects.toThrow(/does not match/);
      expect((await second.commit('u2', digestOf(data))).size).toBe(data.length);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
