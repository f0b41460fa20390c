// Online garbage collection, safe while pushes continue. Nothing younger than the grace period is
// touched; every delete re-checks its conditions inside the statement that deletes; blob rows and
// files are removed under the same per-digest lock that blob commits take; and the database's
// foreign keys refuse to drop a blob a manifest still references. Returns counts and errors.
import type { BlobStore } from '../storage/blob-store.js';
import type { RegistryService } from './service.js';

/** Rows examined per query, so a large registry is never loaded into memory at once. */
const PAGE = 1000;

export interface GcOptions {
  gracePeriodMs: number;
  uploadExpiryMs: number;
  deleteUntagged: boolean;
  now?: number;
}

export interface GcResult {
  startedAt: string;
  durationMs: number;
  manifestsDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  uploadsExpired: number;
  orphanFilesRemoved: number;
  errors: string[];
}

export async function collectGarbage(service: RegistryService, options: GcOptions): Promise<GcResult> {
  const started = Date.now();
  const now = options.now ?? started;
  const cutoff = now - options.gracePeriodMs;
  const result: GcResult = {
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    manifestsDeleted: 0,
    blobsDeleted: 0,
    bytesFreed: 0,
    uploadsExpired: 0,
    orphanFilesRemoved: 0,
    errors: [],
  };
  const step = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (error) {
      result.errors.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  await step('uploads', () => expireUploads(service, now - options.uploadExpiryMs, result));
  if (options.deleteUntagged) await step('manifests', () => deleteUntaggedManifests(service, cutoff, result));
  await step('blobs', () => deleteUnreferencedBlobs(service, cutoff, result));
  await step('orphans', () => removeOrphanFiles(service, service.blobs, cutoff, result));
  result.durationMs = Date.now() - started;
  return result;
}

async function expireUploads(service: RegistryService, before: number, result: GcResult): Promise<void> {
  const { store } = service;
  for (const id of await store.staleUploadIds(store.db, before)) {
    await store.transaction((trx) => store.deleteUpload(trx, id));
    await service.blobs.abort(id);
    result.uploadsExpired++;
  }
  // Sessions on disk without a row: monolithic uploads cut off by a crash, or rows already gone.
  for await (const item of service.blobs.listUploads()) {
    if (item.modifiedAt.getTime() >= before) continue;
    const row = await store.getUpload(store.db, item.key);
    if (!row && (await service.blobs.abort(item.key))) result.uploadsExpired++;
  }
}

async function deleteUntaggedManifests(
  service: RegistryService,
  cutoff: number,
  result: GcResult,
): Promise<void> {
  const { store } = service;
  // Deleting an index can orphan its children, so repeat until nothing more qualifies.
  for (let round = 0; round < 32; round++) {
    const candidates = await store.collectableManifests(store.db, cutoff, PAGE);
    let deleted = 0;
    for (const { repository, digest } of candidates) {
      const removed = await store.transaction((trx) =>
        store.deleteManifestIfCollectable(trx, repository, digest, cutoff),
      );
      if (removed) deleted++;
    }
    result.manifestsDeleted += deleted;
    if (deleted === 0) return;
  }
}

async function deleteUnreferencedBlobs(
  service: RegistryService,
  cutoff: number,
  result: GcResult,
): Promise<void> {
  const { store } = service;
  for (let after = ''; ;) {
    const candidates = await store.collectableBlobs(store.db, cutoff, after, PAGE);
    if (candidates.length === 0) return;
    after = candidates[candidates.length - 1]!.digest;
    for (const candidate of candidates) {
      await service.digestLocks.run(candidate.digest, async () => {
        let removed: boolean;
        try {
          removed = await store.transaction((trx) =>
            store.deleteBlobIfCollectable(trx, candidate.digest, cutoff),
          );
        } catch {
          // A manifest claimed the blob concurrently (foreign key): it is alive, keep it.
          return;
        }
        if (removed) {
          await service.blobs.delete(candidate.digest);
          result.blobsDeleted++;
          result.bytesFreed += candidate.size;
        }
      });
    }
  }
}

async function removeOrphanFiles(
  service: RegistryService,
  blobs: BlobStore,
  cutoff: number,
  result: GcResult,
): Promise<void> {
  const { store } = service;
  for await (const item of blobs.list()) {
    if (item.modifiedAt.getTime() >= cutoff) continue;
    await service.digestLocks.run(item.key, async () => {
      if (!(await store.blobRecorded(store.db, item.key)) && (await blobs.delete(item.key))) {
        result.orphanFilesRemoved++;
      }
    });
  }
}
