// Online garbage collection, safe while pushes continue. Nothing younger than the grace period is
// touched; every delete re-checks its conditions inside the statement that deletes; blob rows and
// files are removed under the same per-digest lock that blob commits take; and the database's
// foreign keys refuse to drop a blob a manifest still references. Returns counts and errors.
import { sql } from 'kysely';
import type { BlobStore } from '../storage/blob-store.js';
import type { RegistryService } from './service.js';

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
  const { db } = service.store;
  const stale = await db.selectFrom('uploads').select('id').where('updated_at', '<', before).execute();
  for (const { id } of stale) {
    await service.store.transaction((trx) => service.store.deleteUpload(trx, id));
    await service.blobs.abort(id);
    result.uploadsExpired++;
  }
  // Sessions on disk without a row: monolithic uploads cut off by a crash, or rows already gone.
  for await (const item of service.blobs.listUploads()) {
    if (item.modifiedAt.getTime() >= before) continue;
    const row = await service.store.getUpload(db, item.key);
    if (!row && (await service.blobs.abort(item.key))) result.uploadsExpired++;
  }
}

async function deleteUntaggedManifests(
  service: RegistryService,
  cutoff: number,
  result: GcResult,
): Promise<void> {
  const { db } = service.store;
  // Deleting an index can orphan its children, so repeat until nothing more qualifies.
  for (let round = 0; round < 32; round++) {
    const candidates = await db
      .selectFrom('manifests as m')
      .select(['m.repository', 'm.digest'])
      .where('m.last_used_at', '<', cutoff)
      .where(unprotected)
      .limit(1000)
      .execute();
    if (candidates.length === 0) return;
    let deleted = 0;
    for (const candidate of candidates) {
      const removed = await service.store.transaction(async (trx) => {
        const r = await trx
          .deleteFrom('manifests as m')
          .where('m.repository', '=', candidate.repository)
          .where('m.digest', '=', candidate.digest)
          .where('m.last_used_at', '<', cutoff)
          .where(unprotected)
          .executeTakeFirst();
        return r.numDeletedRows > 0n;
      });
      if (removed) deleted++;
    }
    result.manifestsDeleted += deleted;
    if (deleted === 0) return;
  }
}

/**
 * True for manifest `m` when nothing keeps it alive: no tag, no parent index, and no live subject
 * it refers to (a signature or SBOM lives as long as its image). Static SQL, no data in it.
 */
const unprotected = sql<boolean>`not exists (select 1 from tags t where t.repository = m.repository and t.digest = m.digest)
  and not exists (select 1 from manifest_children c where c.repository = m.repository and c.child_digest = m.digest)
  and not exists (select 1 from manifests s where s.repository = m.repository and s.digest = m.subject)`;

const unreferencedBlob = sql<boolean>`not exists (select 1 from manifest_blobs r where r.blob_digest = b.digest)`;

async function deleteUnreferencedBlobs(
  service: RegistryService,
  cutoff: number,
  result: GcResult,
): Promise<void> {
  const { db } = service.store;
  const candidates = await db
    .selectFrom('blobs as b')
    .select(['b.digest', 'b.size'])
    .where('b.last_used_at', '<', cutoff)
    .where(unreferencedBlob)
    .execute();
  for (const candidate of candidates) {
    await service.digestLocks.run(candidate.digest, async () => {
      let removed: boolean;
      try {
        removed = await service.store.transaction(async (trx) => {
          const r = await trx
            .deleteFrom('blobs as b')
            .where('b.digest', '=', candidate.digest)
            .where('b.last_used_at', '<', cutoff)
            .where(unreferencedBlob)
            .executeTakeFirst();
          return r.numDeletedRows > 0n;
        });
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

async function removeOrphanFiles(
  service: RegistryService,
  blobs: BlobStore,
  cutoff: number,
  result: GcResult,
): Promise<void> {
  const { db } = service.store;
  for await (const item of blobs.list()) {
    if (item.modifiedAt.getTime() >= cutoff) continue;
    await service.digestLocks.run(item.key, async () => {
      const row = await db
        .selectFrom('blobs')
        .select('digest')
        .where('digest', '=', item.key)
        .executeTakeFirst();
      if (!row && (await blobs.delete(item.key))) result.orphanFilesRemoved++;
    });
  }
}
