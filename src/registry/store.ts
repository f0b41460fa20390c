// SQL for registry metadata. Every method takes the executor it runs on, so the service decides
// the transaction boundaries; nothing here builds SQL from strings.
import { sql, type Kysely, type Transaction } from 'kysely';
import { reusableQuery } from '../db/reusable-query.js';
import type { Database } from '../db/schema.js';

export type Executor = Kysely<Database> | Transaction<Database>;

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  size: number;
  payload: Buffer;
  subject: string | null;
}

export interface NewManifest {
  repository: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  subject: string | null;
  annotations: string | null;
  payload: Buffer;
  blobDigests: string[];
  childDigests: string[];
}

export interface ReferrerRow {
  digest: string;
  media_type: string;
  artifact_type: string | null;
  size: number;
  annotations: string | null;
}

/**
 * True for manifest `m` when nothing keeps it alive: no tag, no parent index, and no live subject
 * it refers to (a signature or SBOM lives as long as its image). Static SQL, no data in it.
 */
const unprotectedManifest = sql<boolean>`not exists (select 1 from tags t where t.repository = m.repository and t.digest = m.digest)
  and not exists (select 1 from manifest_children c where c.repository = m.repository and c.child_digest = m.digest)
  and not exists (select 1 from manifests s where s.repository = m.repository and s.digest = m.subject)`;

/** True for blob `b` when no manifest in any repository references it. */
const unreferencedBlob = sql<boolean>`not exists (select 1 from manifest_blobs r where r.blob_digest = b.digest)`;

export class RegistryStore {
  constructor(readonly db: Kysely<Database>) {}

  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  // The statements of every blob push (and of every manifest push, for the repository), compiled
  // once (see reusable-query.ts).
  readonly #ensureRepository = reusableQuery((ex: Executor, name: string, now: number) =>
    ex
      .insertInto('repositories')
      .values({ name, created_at: now })
      .onConflict((oc) => oc.column('name').doNothing()),
  );

  readonly #insertBlob = reusableQuery(
    (ex: Executor, digest: string, size: number, createdAt: number, lastUsedAt: number) =>
      ex
        .insertInto('blobs')
        .values({ digest, size, created_at: createdAt, last_used_at: lastUsedAt })
        .onConflict((oc) =>
          oc.column('digest').doUpdateSet((eb) => ({ last_used_at: eb.ref('excluded.last_used_at') })),
        ),
  );

  readonly #linkRepositoryBlob = reusableQuery(
    (ex: Executor, repository: string, digest: string, now: number) =>
      ex
        .insertInto('repository_blobs')
        .values({ repository, digest, linked_at: now })
        .onConflict((oc) =>
          oc
            .columns(['repository', 'digest'])
            .doUpdateSet((eb) => ({ linked_at: eb.ref('excluded.linked_at') })),
        ),
  );

  readonly #insertUpload = reusableQuery(
    (ex: Executor, id: string, repository: string, createdAt: number, updatedAt: number) =>
      ex.insertInto('uploads').values({ id, repository, created_at: createdAt, updated_at: updatedAt }),
  );

  readonly #upload = reusableQuery((ex: Executor, id: string) =>
    ex.selectFrom('uploads').select(['repository', 'updated_at']).where('id', '=', id),
  );

  readonly #deleteUpload = reusableQuery((ex: Executor, id: string) =>
    ex.deleteFrom('uploads').where('id', '=', id),
  );

  async ensureRepository(ex: Executor, name: string, now: number): Promise<void> {
    await this.#ensureRepository(ex, name, now);
  }

  async repositoryExists(ex: Executor, name: string): Promise<boolean> {
    const row = await ex
      .selectFrom('repositories')
      .select('name')
      .where('name', '=', name)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Size and GC clock of a blob visible in the repository, or undefined. */
  async blobUsage(
    ex: Executor,
    repository: string,
    digest: string,
  ): Promise<{ size: number; lastUsedAt: number } | undefined> {
    const row = await ex
      .selectFrom('repository_blobs')
      .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
      .select(['blobs.size', 'blobs.last_used_at'])
      .where('repository_blobs.repository', '=', repository)
      .where('repository_blobs.digest', '=', digest)
      .executeTakeFirst();
    return row && { size: row.size, lastUsedAt: row.last_used_at };
  }

  async touchBlob(ex: Executor, digest: string, now: number): Promise<void> {
    await ex.updateTable('blobs').set({ last_used_at: now }).where('digest', '=', digest).execute();
  }

  /** Records a durable blob and makes it visible in the repository, refreshing its GC clock. */
  async linkBlob(ex: Executor, repository: string, digest: string, size: number, now: number): Promise<void> {
    await this.#ensureRepository(ex, repository, now);
    await this.#insertBlob(ex, digest, size, now, now);
    await this.#linkRepositoryBlob(ex, repository, digest, now);
  }

  async unlinkBlob(ex: Executor, repository: string, digest: string): Promise<boolean> {
    const result = await ex
      .deleteFrom('repository_blobs')
      .where('repository', '=', repository)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /**
   * Sizes of the given blobs that are linked in the repository; refreshes their GC clock in the
   * same statement family, which also row-locks them on PostgreSQL against a concurrent collect.
   */
  async claimLinkedBlobs(
    ex: Executor,
    repository: string,
    digests: string[],
    now: number,
  ): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    if (digests.length === 0) return found;
    // Row by row in digest order: concurrent pushes sharing blobs then lock them in the same
    // order (one multi-row UPDATE locks in heap order, which differs between transactions on
    // PostgreSQL once rows have moved, and deadlocks).
    for (const digest of [...new Set(digests)].sort()) {
      await ex.updateTable('blobs').set({ last_used_at: now }).where('digest', '=', digest).execute();
    }
    const rows = await ex
      .selectFrom('repository_blobs')
      .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
      .select(['blobs.digest', 'blobs.size'])
      .where('repository_blobs.repository', '=', repository)
      .where('repository_blobs.digest', 'in', digests)
      .execute();
    for (const row of rows) found.set(row.digest, row.size);
    return found;
  }

  /** Same as claimLinkedBlobs for child manifests of an index. */
  async claimManifests(
    ex: Executor,
    repository: string,
    digests: string[],
    now: number,
  ): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    if (digests.length === 0) return found;
    for (const digest of [...new Set(digests)].sort()) {
      await ex
        .updateTable('manifests')
        .set({ last_used_at: now })
        .where('repository', '=', repository)
        .where('digest', '=', digest)
        .execute();
    }
    const rows = await ex
      .selectFrom('manifests')
      .select(['digest', 'size'])
      .where('repository', '=', repository)
      .where('digest', 'in', digests)
      .execute();
    for (const row of rows) found.set(row.digest, row.size);
    return found;
  }

  async putManifest(
    ex: Executor,
    manifest: NewManifest,
    tag: string | undefined,
    now: number,
  ): Promise<void> {
    await this.ensureRepository(ex, manifest.repository, now);
    const inserted = await ex
      .insertInto('manifests')
      .values({
        repository: manifest.repository,
        digest: manifest.digest,
        media_type: manifest.mediaType,
        artifact_type: manifest.artifactType,
        subject: manifest.subject,
        size: manifest.payload.length,
        payload: manifest.payload,
        annotations: manifest.annotations,
        created_at: now,
        last_used_at: now,
      })
      .onConflict((oc) => oc.columns(['repository', 'digest']).doNothing())
      .executeTakeFirst();
    if ((inserted.numInsertedOrUpdatedRows ?? 0n) > 0n) {
      const blobs = [...new Set(manifest.blobDigests)];
      if (blobs.length > 0) {
        await ex
          .insertInto('manifest_blobs')
          .values(
            blobs.map((d) => ({
              repository: manifest.repository,
              manifest_digest: manifest.digest,
              blob_digest: d,
            })),
          )
          .execute();
      }
      const children = [...new Set(manifest.childDigests)];
      if (children.length > 0) {
        await ex
          .insertInto('manifest_children')
          .values(
            children.map((d) => ({
              repository: manifest.repository,
              parent_digest: manifest.digest,
              child_digest: d,
            })),
          )
          .execute();
      }
    } else {
      await ex
        .updateTable('manifests')
        .set({ last_used_at: now })
        .where('repository', '=', manifest.repository)
        .where('digest', '=', manifest.digest)
        .execute();
    }
    if (tag !== undefined) {
      await ex
        .insertInto('tags')
        .values({ repository: manifest.repository, name: tag, digest: manifest.digest, updated_at: now })
        .onConflict((oc) =>
          oc.columns(['repository', 'name']).doUpdateSet({ digest: manifest.digest, updated_at: now }),
        )
        .execute();
    }
  }

  // The two lookups of every manifest GET and HEAD: compiled once (see reusable-query.ts).
  readonly #manifestByDigest = reusableQuery((ex: Executor, repository: string, digest: string) =>
    ex
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'size', 'payload', 'subject'])
      .where('repository', '=', repository)
      .where('digest', '=', digest),
  );

  readonly #manifestByTag = reusableQuery((ex: Executor, repository: string, tag: string) =>
    ex
      .selectFrom('tags')
      .innerJoin('manifests', (j) =>
        j.onRef('manifests.repository', '=', 'tags.repository').onRef('manifests.digest', '=', 'tags.digest'),
      )
      .select([
        'manifests.digest',
        'manifests.media_type',
        'manifests.size',
        'manifests.payload',
        'manifests.subject',
      ])
      .where('tags.repository', '=', repository)
      .where('tags.name', '=', tag),
  );

  async getManifest(ex: Executor, repository: string, digest: string): Promise<ManifestRecord | undefined> {
    const [row] = (await this.#manifestByDigest(ex, repository, digest)).rows;
    return row && toRecord(row);
  }

  async getManifestByTag(ex: Executor, repository: string, tag: string): Promise<ManifestRecord | undefined> {
    const [row] = (await this.#manifestByTag(ex, repository, tag)).rows;
    return row && toRecord(row);
  }

  /** The digest a tag points at, or undefined. */
  async tagTarget(ex: Executor, repository: string, tag: string): Promise<string | undefined> {
    const row = await ex
      .selectFrom('tags')
      .select('digest')
      .where('repository', '=', repository)
      .where('name', '=', tag)
      .executeTakeFirst();
    return row?.digest;
  }

  async deleteTag(ex: Executor, repository: string, tag: string): Promise<boolean> {
    const result = await ex
      .deleteFrom('tags')
      .where('repository', '=', repository)
      .where('name', '=', tag)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async deleteManifest(ex: Executor, repository: string, digest: string): Promise<boolean> {
    const result = await ex
      .deleteFrom('manifests')
      .where('repository', '=', repository)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async listTags(
    ex: Executor,
    repository: string,
    limit: number,
    last: string | undefined,
  ): Promise<string[]> {
    let query = ex.selectFrom('tags').select('name').where('repository', '=', repository);
    if (last !== undefined) query = query.where('name', '>', last);
    const rows = await query.orderBy('name').limit(limit).execute();
    return rows.map((r) => r.name);
  }

  async listRepositories(ex: Executor, limit: number, last: string | undefined): Promise<string[]> {
    let query = ex.selectFrom('repositories').select('name');
    if (last !== undefined) query = query.where('name', '>', last);
    const rows = await query.orderBy('name').limit(limit).execute();
    return rows.map((r) => r.name);
  }

  async referrers(ex: Executor, repository: string, subject: string): Promise<ReferrerRow[]> {
    return ex
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'artifact_type', 'size', 'annotations'])
      .where('repository', '=', repository)
      .where('subject', '=', subject)
      .orderBy('created_at')
      .orderBy('digest')
      .execute();
  }

  async createUpload(ex: Executor, id: string, repository: string, now: number): Promise<void> {
    await this.#insertUpload(ex, id, repository, now, now);
  }

  async getUpload(ex: Executor, id: string): Promise<{ repository: string; updated_at: number } | undefined> {
    return (await this.#upload(ex, id)).rows[0];
  }

  async touchUpload(ex: Executor, id: string, now: number): Promise<void> {
    await ex.updateTable('uploads').set({ updated_at: now }).where('id', '=', id).execute();
  }

  async deleteUpload(ex: Executor, id: string): Promise<boolean> {
    const result = await this.#deleteUpload(ex, id);
    return (result.numAffectedRows ?? 0n) > 0n;
  }

  // ---- garbage collection: candidates are re-checked by the statement that deletes them ----

  async staleUploadIds(ex: Executor, before: number): Promise<string[]> {
    const rows = await ex.selectFrom('uploads').select('id').where('updated_at', '<', before).execute();
    return rows.map((r) => r.id);
  }

  async collectableManifests(
    ex: Executor,
    cutoff: number,
    limit: number,
  ): Promise<{ repository: string; digest: string }[]> {
    return ex
      .selectFrom('manifests as m')
      .select(['m.repository', 'm.digest'])
      .where('m.last_used_at', '<', cutoff)
      .where(unprotectedManifest)
      .orderBy('m.repository')
      .orderBy('m.digest')
      .limit(limit)
      .execute();
  }

  async deleteManifestIfCollectable(ex: Executor, repository: string, digest: string, cutoff: number) {
    const result = await ex
      .deleteFrom('manifests as m')
      .where('m.repository', '=', repository)
      .where('m.digest', '=', digest)
      .where('m.last_used_at', '<', cutoff)
      .where(unprotectedManifest)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /** Unreferenced blobs older than `cutoff`, in digest order after `after`, a page at a time. */
  async collectableBlobs(
    ex: Executor,
    cutoff: number,
    after: string,
    limit: number,
  ): Promise<{ digest: string; size: number }[]> {
    return ex
      .selectFrom('blobs as b')
      .select(['b.digest', 'b.size'])
      .where('b.digest', '>', after)
      .where('b.last_used_at', '<', cutoff)
      .where(unreferencedBlob)
      .orderBy('b.digest')
      .limit(limit)
      .execute();
  }

  async deleteBlobIfCollectable(ex: Executor, digest: string, cutoff: number): Promise<boolean> {
    const result = await ex
      .deleteFrom('blobs as b')
      .where('b.digest', '=', digest)
      .where('b.last_used_at', '<', cutoff)
      .where(unreferencedBlob)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async blobRecorded(ex: Executor, digest: string): Promise<boolean> {
    const row = await ex.selectFrom('blobs').select('digest').where('digest', '=', digest).executeTakeFirst();
    return row !== undefined;
  }

  async countUploads(ex: Executor): Promise<number> {
    const row = await ex
      .selectFrom('uploads')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}

function toRecord(row: {
  digest: string;
  media_type: string;
  size: number;
  payload: Buffer;
  subject: string | null;
}) {
  return {
    digest: row.digest,
    mediaType: row.media_type,
    size: row.size,
    payload: Buffer.from(row.payload),
    subject: row.subject,
  };
}
