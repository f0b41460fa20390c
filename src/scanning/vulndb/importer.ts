// Imports OSV records into the vulnerability database, incrementally: a record is written only
// when it is new or its `modified` time is later than the stored one, so re-importing a mirror
// costs reads, not writes. Withdrawn records are kept (marked) so findings they caused disappear.
// Each batch is one transaction with its audit event and the re-evaluation jobs of the images
// whose packages the changed records name (before or after the change); images are re-evaluated
// from their stored inventories — layers are never read again.
import type { AuditRecorder } from '../../audit/audit-log.js';
import type { AffectedPackagesTable, VulnerabilitiesTable } from '../../db/schema.js';
import type { JobStore } from '../../jobs/store.js';
import { ecosystemKeyOf } from '../osv/ecosystems.js';
import { OsvRecordError, parseOsvRecord, type OsvRecord } from '../osv/osv-record.js';
import { severityOf } from '../osv/severity.js';
import type { StoredAffected } from '../matcher.js';
import { keyString } from '../matcher.js';
import type { PackageKey, ScanStore } from '../store.js';
import type { RecordSource } from './record-sources.js';

export const MATCH_JOB = 'scan.match';

export interface ImportResult {
  source: string;
  /** Records read (valid or not). */
  read: number;
  inserted: number;
  updated: number;
  unchanged: number;
  /** Records (new or updated) that are withdrawn. */
  withdrawn: number;
  invalid: number;
  /** Images queued for re-evaluation. */
  imagesQueued: number;
  durationMs: number;
  /** The first problems, one line each (at most 100). */
  errors: string[];
}

export interface ImportProgress {
  done: number;
  total: number;
}

const BATCH = 500;
const MAX_ERRORS = 100;

export class VulnerabilityImporter {
  constructor(
    private readonly store: ScanStore,
    private readonly audit: AuditRecorder,
    private readonly jobs: JobStore,
    private readonly clock: () => number = Date.now,
  ) {}

  async import(
    name: string,
    source: RecordSource,
    onProgress?: (progress: ImportProgress) => void,
  ): Promise<ImportResult> {
    const started = this.clock();
    const result: ImportResult = {
      source: name,
      read: 0,
      inserted: 0,
      updated: 0,
      unchanged: 0,
      withdrawn: 0,
      invalid: 0,
      imagesQueued: 0,
      durationMs: 0,
      errors: [],
    };
    const queued = new Set<string>();
    let batch: OsvRecord[] = [];
    let done = 0;
    let writing: Promise<void> = Promise.resolve();
    for await (const raw of source.records()) {
      result.read++;
      done++;
      if (raw.error !== undefined) {
        this.invalid(result, `${raw.origin}: ${raw.error}`);
      } else {
        try {
          batch.push(storable(parseOsvRecord(raw.value)));
        } catch (error) {
          const message = error instanceof OsvRecordError ? error.message : String(error);
          this.invalid(result, `${raw.origin}: ${message}`);
        }
      }
      if (batch.length >= BATCH) {
        // The database writes one batch while the next is read and parsed; at most two are held.
        await writing;
        const full = batch;
        const progress = { done, total: Math.max(done, source.total) };
        writing = this.writeBatch(name, full, result, queued).then(() => onProgress?.(progress));
        writing.catch(() => undefined);
        batch = [];
      }
    }
    await writing;
    await this.writeBatch(name, batch, result, queued);
    onProgress?.({ done, total: Math.max(done, source.total) });
    result.imagesQueued = queued.size;
    result.durationMs = this.clock() - started;
    await this.store.transaction((trx) =>
      this.audit.record(trx, {
        type: 'dev.palisade.vulndb.import.completed.v1',
        subject: `vulndb:${name}`,
        outcome: result.invalid > 0 ? 'failure' : 'success',
        body: { ...result, errors: result.errors.slice(0, 20) },
      }),
    );
    return result;
  }

  private invalid(result: ImportResult, message: string): void {
    result.invalid++;
    if (result.errors.length < MAX_ERRORS) result.errors.push(message);
  }

  private async writeBatch(
    source: string,
    records: OsvRecord[],
    result: ImportResult,
    queued: Set<string>,
  ): Promise<void> {
    if (records.length === 0) return;
    // The last of several copies of one id in a batch wins, like separate imports would.
    const latest = new Map<string, OsvRecord>();
    for (const record of records) latest.set(record.id, record);
    const now = this.clock();
    await this.store.transaction(async (trx) => {
      // First: on PostgreSQL this locks the state row, so concurrent imports take turns per batch
      // instead of failing on each other's inserts; on SQLite it makes this a write transaction now.
      await this.store.bumpGeneration(trx);
      const stored = await this.store.storedModified(trx, [...latest.keys()]);
      const writes: { row: VulnerabilitiesTable; affected: AffectedPackagesTable[] }[] = [];
      const inserted: string[] = [];
      const updated: string[] = [];
      for (const record of latest.values()) {
        const modified = Date.parse(record.modified);
        const previous = stored.get(record.id);
        if (previous !== undefined && previous >= modified) {
          result.unchanged++;
          continue;
        }
        (previous === undefined ? inserted : updated).push(record.id);
        if (record.withdrawn !== undefined) result.withdrawn++;
        writes.push(toRows(record, modified, now));
      }
      if (writes.length === 0) return;
      const keys = new Map<string, PackageKey>();
      for (const key of await this.store.affectedKeysOf(trx, updated)) keys.set(keyString(key), key);
      for (const write of writes) {
        for (const a of write.affected) keys.set(keyString(a), { ecosystem: a.ecosystem, name: a.name });
      }
      const batchKeys = [...keys.values()];
      await this.store.putVulnerabilities(trx, writes, updated);
      // The images to re-evaluate are queued with the change itself: an import that stops later
      // leaves no committed record whose images were never looked at again.
      for (const image of await this.store.imagesWithKeys(trx, batchKeys)) {
        await this.jobs.enqueue(trx, matchJob(image), now);
        queued.add(`${image.repository}@${image.digest}`);
      }
      result.inserted += inserted.length;
      result.updated += updated.length;
      await this.audit.record(trx, {
        type: 'dev.palisade.vulndb.records.imported.v1',
        subject: `vulndb:${source}`,
        body: { source, inserted, updated },
      });
    });
  }
}

/** Column widths of the vulnerability tables (the same on both databases). */
const MAX_ID = 100;
const MAX_ECOSYSTEM = 100;
const MAX_NAME = 300;

/**
 * Fits a record to what is stored: an id longer than the column is an invalid record; aliases
 * too long to be an id are dropped; affected packages with an over-long ecosystem or name are
 * left out (no installed package could be filed under them either).
 */
function storable(record: OsvRecord): OsvRecord {
  if (record.id.length > MAX_ID) {
    throw new OsvRecordError(undefined, '$.id', `an id longer than ${MAX_ID} characters is not stored`);
  }
  return {
    ...record,
    aliases: record.aliases.filter((alias) => alias.length <= MAX_ID),
    affected: record.affected.filter(
      (a) => !a.package || (a.package.ecosystem.length <= MAX_ECOSYSTEM && a.package.name.length <= MAX_NAME),
    ),
  };
}

export function matchJob(image: { repository: string; digest: string }) {
  return { kind: MATCH_JOB, key: `${MATCH_JOB}:${image.repository}@${image.digest}`, payload: image };
}

function toRows(
  record: OsvRecord,
  modifiedMs: number,
  now: number,
): { row: VulnerabilitiesTable; affected: AffectedPackagesTable[] } {
  const affected: AffectedPackagesTable[] = [];
  record.affected.forEach((entry, idx) => {
    if (!entry.package) return;
    const key = ecosystemKeyOf(entry.package);
    if (!key) return;
    const { package: _omitted, ...rest } = entry;
    const severity = severityOf(record, entry);
    const stored: StoredAffected = { entry: rest, ...(severity ? { severity } : {}) };
    affected.push({
      vuln_id: record.id,
      idx,
      ecosystem: key.ecosystem,
      name: key.name,
      affected: JSON.stringify(stored),
    });
  });
  const severity = severityOf(record);
  return {
    row: {
      id: record.id,
      modified: record.modified,
      modified_ms: modifiedMs,
      published: record.published ?? null,
      withdrawn: record.withdrawn ?? null,
      aliases: JSON.stringify(record.aliases),
      summary: record.summary?.slice(0, 1000) ?? null,
      severity: severity ? JSON.stringify(severity) : null,
      record: JSON.stringify(record),
      imported_at: now,
    },
    affected,
  };
}
