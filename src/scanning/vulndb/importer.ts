// Imports OSV records into the vulnerability database, incrementally: a record is written only
// when it is new or its `modified` time is later than the stored one, so re-importing a mirror
// costs reads, not writes. Withdrawn records are kept (marked) so findings they caused disappear.
// Each batch is one transaction with its audit event; the images whose packages the changed
// records name (before or after the change) are queued for re-evaluation from their stored
// inventories — layers are never read again.
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
    const changedKeys = new Map<string, PackageKey>();
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
          batch.push(parseOsvRecord(raw.value));
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
        writing = this.writeBatch(name, full, result, changedKeys).then(() => onProgress?.(progress));
        writing.catch(() => undefined);
        batch = [];
      }
    }
    await writing;
    await this.writeBatch(name, batch, result, changedKeys);
    onProgress?.({ done, total: Math.max(done, source.total) });
    result.imagesQueued = await this.queueAffectedImages([...changedKeys.values()]);
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
    changedKeys: Map<string, PackageKey>,
  ): Promise<void> {
    if (records.length === 0) return;
    // The last of several copies of one id in a batch wins, like separate imports would.
    const latest = new Map<string, OsvRecord>();
    for (const record of records) latest.set(record.id, record);
    const now = this.clock();
    await this.store.transaction(async (trx) => {
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
      for (const key of await this.store.affectedKeysOf(trx, updated)) changedKeys.set(keyString(key), key);
      for (const write of writes) {
        for (const a of write.affected)
          changedKeys.set(keyString(a), { ecosystem: a.ecosystem, name: a.name });
      }
      await this.store.putVulnerabilities(trx, writes, updated);
      await this.store.bumpGeneration(trx);
      result.inserted += inserted.length;
      result.updated += updated.length;
      await this.audit.record(trx, {
        type: 'dev.palisade.vulndb.records.imported.v1',
        subject: `vulndb:${source}`,
        body: { source, inserted, updated },
      });
    });
  }

  /** Queues re-evaluation of every image holding a package under one of the keys. */
  async queueAffectedImages(keys: readonly PackageKey[]): Promise<number> {
    if (keys.length === 0) return 0;
    const images = await this.store.imagesWithKeys(this.store.db, keys);
    const now = this.clock();
    for (let i = 0; i < images.length; i += 200) {
      await this.store.transaction(async (trx) => {
        for (const image of images.slice(i, i + 200)) {
          await this.jobs.enqueue(trx, matchJob(image), now);
        }
      });
    }
    return images.length;
  }
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
