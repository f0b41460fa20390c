// Keeps the vulnerability database in step with configured OSV mirrors. Each source is a durable
// job that downloads the archive (conditionally: an unchanged mirror costs one 304), imports it
// incrementally and schedules its own next run. The download is an outbound call to a host the
// configuration names, through the same address policy as every other outbound call: https, no
// private or loopback addresses unless allowed, bounded in size and time.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SYSTEM_ACTOR, type AuditRecorder } from '../../audit/audit-log.js';
import type { JobStore } from '../../jobs/store.js';
import { downloadFile, isLoopbackHost, type AddressPolicy } from '../../lib/outbound.js';
import type { ImportResult, VulnerabilityImporter } from './importer.js';
import { openRecordSource } from './record-sources.js';

export const SYNC_JOB = 'vulndb.sync';

export interface MirrorSource {
  url: string;
  intervalHours: number;
}

export interface MirrorSettings {
  sources: readonly MirrorSource[];
  maxDownloadBytes: number;
  downloadTimeoutMs: number;
  policy: AddressPolicy;
  /** Where downloads wait while they are imported. */
  workDir: string;
}

interface SyncPayload {
  url: string;
  etag?: string;
  lastModified?: string;
}

export interface SyncResult {
  url: string;
  status: 'imported' | 'not-modified' | 'failed';
  bytes: number;
  import?: ImportResult;
  error?: string;
  nextRunAt: string;
}

export class VulndbMirror {
  constructor(
    private readonly importer: VulnerabilityImporter,
    private readonly jobs: JobStore,
    private readonly audit: AuditRecorder,
    private readonly settings: MirrorSettings,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Queues a sync of every configured source that has none queued (at start-up). */
  async schedule(): Promise<void> {
    for (const source of this.settings.sources) {
      const existing = await this.jobs.find(this.jobs.db, syncKey(source.url));
      if (existing && (existing.state === 'queued' || existing.state === 'running')) continue;
      const previous = (existing?.result ?? {}) as { etag?: string; lastModified?: string };
      await this.jobs.enqueue(
        this.jobs.db,
        { kind: SYNC_JOB, key: syncKey(source.url), payload: { url: source.url, ...validators(previous) } },
        this.clock(),
      );
    }
  }

  /** One sync; never throws for the mirror's faults (they are recorded, and the next run is kept). */
  async sync(payload: SyncPayload): Promise<SyncResult & { etag?: string; lastModified?: string }> {
    const source = this.settings.sources.find((s) => s.url === payload.url);
    if (!source) {
      return {
        url: payload.url,
        status: 'failed',
        bytes: 0,
        error: 'no longer configured',
        nextRunAt: 'never',
      };
    }
    const nextRun = this.clock() + source.intervalHours * 3_600_000;
    const next = async (carried: { etag?: string; lastModified?: string }) => {
      await this.jobs.enqueue(
        this.jobs.db,
        {
          kind: SYNC_JOB,
          key: syncKey(source.url),
          payload: { url: source.url, ...validators(carried) },
          runAfter: nextRun,
        },
        this.clock(),
      );
    };
    await mkdir(this.settings.workDir, { recursive: true, mode: 0o700 });
    const path = join(this.settings.workDir, `vulndb-${randomUUID()}.download`);
    try {
      const url = new URL(source.url);
      if (url.protocol !== 'https:' && !(this.settings.policy.dev && isLoopbackHost(url.hostname))) {
        throw new Error('the mirror URL must be https (plain http only to loopback in development mode)');
      }
      const download = await downloadFile(url, path, {
        policy: this.settings.policy,
        timeoutMs: this.settings.downloadTimeoutMs,
        maxBytes: this.settings.maxDownloadBytes,
        ...validators(payload),
      });
      const carried = validators(download);
      const nextRunAt = new Date(nextRun).toISOString();
      if (download.status === 'not-modified') {
        await next(carried);
        return { url: source.url, status: 'not-modified', bytes: 0, nextRunAt, ...carried };
      }
      const result = await this.importer.import(
        source.url,
        await openRecordSource(path, undefined, source.url),
      );
      // The new validators only once the archive is in: an import cut short downloads it again.
      await next(carried);
      return {
        url: source.url,
        status: 'imported',
        bytes: download.bytes,
        import: result,
        nextRunAt,
        ...carried,
      };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await next(validators(payload));
      await this.audit.recordAlone({
        type: 'dev.palisade.vulndb.sync.failed.v1',
        subject: `vulndb:${source.url}`,
        actor: SYSTEM_ACTOR,
        outcome: 'failure',
        body: { url: source.url, error: message },
      });
      return {
        url: source.url,
        status: 'failed',
        bytes: 0,
        error: message,
        nextRunAt: new Date(nextRun).toISOString(),
      };
    } finally {
      await rm(path, { force: true });
    }
  }
}

function syncKey(url: string): string {
  return `${SYNC_JOB}:${url}`;
}

function validators(from: { etag?: string; lastModified?: string }): {
  etag?: string;
  lastModified?: string;
} {
  return {
    ...(from.etag ? { etag: from.etag } : {}),
    ...(from.lastModified ? { lastModified: from.lastModified } : {}),
  };
}
