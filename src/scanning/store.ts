// SQL for scanning: image analyses and the package keys they are matched under, the OSV records
// and their affected packages (indexed by ecosystem and name, the only way the matcher looks them
// up), and stored findings, which are replaced as a whole per image so that what appeared and
// what disappeared can be told apart.
import type { Kysely, Transaction } from 'kysely';
import type {
  AffectedPackagesTable,
  Database,
  FindingsTable,
  ImageAnalysesTable,
  VulnerabilitiesTable,
} from '../db/schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

export interface PackageKey {
  ecosystem: string;
  name: string;
}

export interface ImageRef {
  repository: string;
  digest: string;
}

/** An affected entry with what the matcher needs of its record. */
export interface AffectedRow {
  vulnId: string;
  ecosystem: string;
  name: string;
  /** JSON of the stored affected entry. */
  affected: string;
  aliases: string;
  summary: string | null;
  modified: string;
  withdrawn: string | null;
}

/** Bound parameters per query stay well under SQLite's and PostgreSQL's limits. */
const KEYS_PER_QUERY = 400;
/** Rows per multi-row insert (at most 10 columns: 5,000 parameters). */
const ROWS_PER_INSERT = 500;

const ANALYSIS_NUMERIC = ['package_count', 'layer_bytes', 'updated_at'] as const;

function analysisFromRow(row: ImageAnalysesTable): ImageAnalysesTable {
  const out = { ...row } as Record<string, unknown>;
  for (const key of ANALYSIS_NUMERIC) out[key] = Number(out[key]);
  for (const key of ['analysed_at', 'matched_at'] as const)
    if (row[key] !== null) out[key] = Number(row[key]);
  return out as unknown as ImageAnalysesTable;
}

function findingFromRow(row: FindingsTable): FindingsTable {
  return {
    ...row,
    score: row.score === null ? null : Number(row.score),
    first_seen_at: Number(row.first_seen_at),
  };
}

function namesByEcosystem(keys: readonly PackageKey[]): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const key of keys) {
    const names = out.get(key.ecosystem);
    if (names) names.add(key.name);
    else out.set(key.ecosystem, new Set([key.name]));
  }
  return new Map([...out].map(([ecosystem, names]) => [ecosystem, [...names]]));
}

export class ScanStore {
  constructor(readonly db: Kysely<Database>) {}

  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  // ---- analyses ---------------------------------------------------------------------------

  async queueAnalysis(ex: Executor, image: ImageRef, now: number): Promise<void> {
    await ex
      .insertInto('image_analyses')
      .values({
        ...image,
        status: 'queued',
        failure_reason: null,
        failure_message: null,
        distro: null,
        inventory: null,
        package_count: 0,
        spdx_digest: null,
        cyclonedx_digest: null,
        layer_bytes: 0,
        analysed_at: null,
        matched_at: null,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.columns(['repository', 'digest']).doUpdateSet({ status: 'queued', updated_at: now }),
      )
      .execute();
  }

  async analysis(ex: Executor, image: ImageRef): Promise<ImageAnalysesTable | undefined> {
    const row = await ex
      .selectFrom('image_analyses')
      .selectAll()
      .where('repository', '=', image.repository)
      .where('digest', '=', image.digest)
      .executeTakeFirst();
    return row && analysisFromRow(row);
  }

  async updateAnalysis(
    ex: Executor,
    image: ImageRef,
    values: Partial<Omit<ImageAnalysesTable, 'repository' | 'digest'>>,
  ): Promise<void> {
    await ex
      .updateTable('image_analyses')
      .set(values)
      .where('repository', '=', image.repository)
      .where('digest', '=', image.digest)
      .execute();
  }

  /** Analysis rows whose image has analysis done or failed (for re-evaluating everything). */
  async analysedImages(ex: Executor): Promise<ImageRef[]> {
    return ex
      .selectFrom('image_analyses')
      .select(['repository', 'digest'])
      .where('status', 'in', ['done', 'failed'])
      .orderBy('repository')
      .orderBy('digest')
      .execute();
  }

  async analysisCounts(ex: Executor): Promise<Record<ImageAnalysesTable['status'], number>> {
    const rows = await ex
      .selectFrom('image_analyses')
      .select(['status', (eb) => eb.fn.countAll<number | string>().as('count')])
      .groupBy('status')
      .execute();
    const counts = { queued: 0, running: 0, done: 0, failed: 0 };
    for (const row of rows) counts[row.status] = Number(row.count);
    return counts;
  }

  /** Forgets everything scanning knows about an image (its manifest was deleted). */
  async forgetImage(ex: Executor, image: ImageRef): Promise<void> {
    for (const table of ['image_analyses', 'image_packages', 'findings'] as const) {
      await ex
        .deleteFrom(table)
        .where('repository', '=', image.repository)
        .where('digest', '=', image.digest)
        .execute();
    }
  }

  /** Forgets analyses and findings of manifests that no longer exist (deleted by GC); returns how many. */
  async forgetOrphans(ex: Executor): Promise<number> {
    let forgotten = 0;
    for (const table of ['image_analyses', 'image_packages', 'findings'] as const) {
      const result = await ex
        .deleteFrom(table)
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('manifests as m')
                .select('m.digest')
                .whereRef('m.repository', '=', `${table}.repository`)
                .whereRef('m.digest', '=', `${table}.digest`),
            ),
          ),
        )
        .executeTakeFirst();
      if (table === 'image_analyses') forgotten = Number(result.numDeletedRows);
    }
    return forgotten;
  }

  // ---- package keys -----------------------------------------------------------------------

  async replaceImageKeys(ex: Executor, image: ImageRef, keys: readonly PackageKey[]): Promise<void> {
    await ex
      .deleteFrom('image_packages')
      .where('repository', '=', image.repository)
      .where('digest', '=', image.digest)
      .execute();
    for (let i = 0; i < keys.length; i += KEYS_PER_QUERY) {
      await ex
        .insertInto('image_packages')
        .values(keys.slice(i, i + KEYS_PER_QUERY).map((key) => ({ ...image, ...key })))
        .execute();
    }
  }

  /** Images holding a package under any of the keys. */
  async imagesWithKeys(ex: Executor, keys: readonly PackageKey[]): Promise<ImageRef[]> {
    const found = new Map<string, ImageRef>();
    for (const [ecosystem, names] of namesByEcosystem(keys)) {
      for (let i = 0; i < names.length; i += KEYS_PER_QUERY) {
        const rows = await ex
          .selectFrom('image_packages')
          .select(['repository', 'digest'])
          .distinct()
          .where('ecosystem', '=', ecosystem)
          .where('name', 'in', names.slice(i, i + KEYS_PER_QUERY))
          .execute();
        for (const row of rows) found.set(`${row.repository}@${row.digest}`, row);
      }
    }
    return [...found.values()];
  }

  // ---- vulnerability records --------------------------------------------------------------

  /** modified_ms of the stored records among `ids`. */
  async storedModified(ex: Executor, ids: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (let i = 0; i < ids.length; i += KEYS_PER_QUERY) {
      const rows = await ex
        .selectFrom('vulnerabilities')
        .select(['id', 'modified_ms'])
        .where('id', 'in', ids.slice(i, i + KEYS_PER_QUERY))
        .execute();
      for (const row of rows) out.set(row.id, Number(row.modified_ms));
    }
    return out;
  }

  /** The affected keys a stored record had (to re-evaluate images that lose a match). */
  async affectedKeysOf(ex: Executor, ids: readonly string[]): Promise<PackageKey[]> {
    const out: PackageKey[] = [];
    for (let i = 0; i < ids.length; i += KEYS_PER_QUERY) {
      out.push(
        ...(await ex
          .selectFrom('affected_packages')
          .select(['ecosystem', 'name'])
          .where('vuln_id', 'in', ids.slice(i, i + KEYS_PER_QUERY))
          .execute()),
      );
    }
    return out;
  }

  /** Replaces the given records; `existing` are the ids already stored (only those need deleting). */
  async putVulnerabilities(
    ex: Executor,
    records: readonly { row: VulnerabilitiesTable; affected: AffectedPackagesTable[] }[],
    existing: readonly string[],
  ): Promise<void> {
    if (records.length === 0) return;
    for (let i = 0; i < existing.length; i += KEYS_PER_QUERY) {
      const chunk = existing.slice(i, i + KEYS_PER_QUERY);
      await ex.deleteFrom('affected_packages').where('vuln_id', 'in', chunk).execute();
      await ex.deleteFrom('vulnerabilities').where('id', 'in', chunk).execute();
    }
    for (let i = 0; i < records.length; i += ROWS_PER_INSERT) {
      await ex
        .insertInto('vulnerabilities')
        .values(records.slice(i, i + ROWS_PER_INSERT).map((r) => r.row))
        .execute();
    }
    const affected = records.flatMap((r) => r.affected);
    for (let i = 0; i < affected.length; i += ROWS_PER_INSERT) {
      await ex
        .insertInto('affected_packages')
        .values(affected.slice(i, i + ROWS_PER_INSERT))
        .execute();
    }
  }

  async affectedFor(ex: Executor, keys: readonly PackageKey[]): Promise<AffectedRow[]> {
    const out: AffectedRow[] = [];
    // One ecosystem per query with its names as an IN list: both databases then seek the
    // (ecosystem, name) index once per name, which a row-value IN list does not get on SQLite.
    for (const [ecosystem, names] of namesByEcosystem(keys)) {
      for (let i = 0; i < names.length; i += KEYS_PER_QUERY) {
        const rows = await ex
          .selectFrom('affected_packages as a')
          .innerJoin('vulnerabilities as v', 'v.id', 'a.vuln_id')
          .select([
            'a.vuln_id as vulnId',
            'a.ecosystem as ecosystem',
            'a.name as name',
            'a.affected as affected',
            'v.aliases as aliases',
            'v.summary as summary',
            'v.modified as modified',
            'v.withdrawn as withdrawn',
          ])
          .where('a.ecosystem', '=', ecosystem)
          .where('a.name', 'in', names.slice(i, i + KEYS_PER_QUERY))
          .execute();
        out.push(...rows);
      }
    }
    return out;
  }

  /** Changes whenever any record is written, in whichever process. */
  async generation(ex: Executor): Promise<number> {
    const row = await ex
      .selectFrom('vulndb_state')
      .select('generation')
      .where('id', '=', 1)
      .executeTakeFirst();
    return Number(row?.generation ?? 0);
  }

  async bumpGeneration(ex: Executor): Promise<void> {
    await ex
      .updateTable('vulndb_state')
      .set((eb) => ({ generation: eb('generation', '+', 1) }))
      .where('id', '=', 1)
      .execute();
  }

  async vulnerability(ex: Executor, id: string): Promise<VulnerabilitiesTable | undefined> {
    const row = await ex.selectFrom('vulnerabilities').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { ...row, modified_ms: Number(row.modified_ms), imported_at: Number(row.imported_at) };
  }

  async vulnerabilityCount(ex: Executor): Promise<number> {
    const row = await ex
      .selectFrom('vulnerabilities')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  }

  // ---- findings ---------------------------------------------------------------------------

  async findings(ex: Executor, image: ImageRef): Promise<FindingsTable[]> {
    const rows = await ex
      .selectFrom('findings')
      .selectAll()
      .where('repository', '=', image.repository)
      .where('digest', '=', image.digest)
      .execute();
    return rows.map(findingFromRow);
  }

  async replaceFindings(ex: Executor, image: ImageRef, rows: readonly FindingsTable[]): Promise<void> {
    await ex
      .deleteFrom('findings')
      .where('repository', '=', image.repository)
      .where('digest', '=', image.digest)
      .execute();
    for (let i = 0; i < rows.length; i += 100) {
      await ex
        .insertInto('findings')
        .values(rows.slice(i, i + 100))
        .execute();
    }
  }
}
