// Configuration changes are changes too. Settings live in files and environment variables, not in
// the database, so they cannot be audited where they are edited: instead each server start
// compares the security-relevant settings with those the last start recorded, and records what
// changed (before and after) — or, on the very first start, what was applied — in one transaction
// with the new snapshot. The legal hold gets its own event when it is switched on or off, because
// it decides whether evidence may be deleted. Secrets are never copied: only whether they are set.
import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import { safeUser } from '../identity/service.js';
import type { AuditActor, AuditLog } from './audit-log.js';

export interface ConfigurationResult {
  first: boolean;
  changed: { setting: string; before: unknown; after: unknown }[];
}

/** The settings whose change is evidence: all but the listening port (often 0, i.e. any). */
export function auditedSettings(config: Config): Record<string, unknown> {
  const { port: _port, databaseUrl, identity, ...rest } = config;
  const { keyEncryptionKey, ...identityRest } = identity;
  return {
    ...rest,
    database: databaseUrl ? redactedDatabaseUrl(databaseUrl) : 'sqlite (in the data directory)',
    identity: {
      ...identityRest,
      keyEncryptionKey: keyEncryptionKey ? 'set in configuration' : 'generated in the data directory',
    },
  };
}

/** A database URL as evidence: its credential (if the URL carries one) replaced. */
function redactedDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = 'redacted';
    return parsed.href;
  } catch {
    return 'sqlite file';
  }
}

function flatten(value: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) flatten(child, prefix ? `${prefix}.${key}` : key, out);
  } else {
    out[prefix] = value;
  }
  return out;
}

/** Who changes configuration: whoever started this process, on this host. */
function operator(): AuditActor {
  return {
    subject: 'system:palisade',
    kind: 'system',
    act: { host: hostname(), os_user: safeUser(), pid: process.pid },
  };
}

export async function recordConfiguration(
  audit: AuditLog,
  config: Config,
  now = Date.now(),
): Promise<ConfigurationResult> {
  const settings = auditedSettings(config);
  const text = JSON.stringify(settings);
  const db = audit.store.db;
  return db.transaction().execute(async (trx) => {
    // Replicas starting together take turns here (the chain head's lock), so one records.
    await audit.store.lockHead(trx);
    const previous = await trx
      .selectFrom('config_snapshot')
      .selectAll()
      .where('id', '=', 1)
      .executeTakeFirst();
    if (previous?.settings === text) return { first: false, changed: [] };
    const actor = operator();
    if (!previous) {
      await audit.record(trx, {
        type: 'dev.palisade.system.config.applied.v1',
        subject: 'config',
        actor,
        path: '/',
        body: { settings },
      });
      await trx.insertInto('config_snapshot').values({ id: 1, settings: text, updated_at: now }).execute();
      return { first: true, changed: [] };
    }
    const before = flatten(JSON.parse(previous.settings));
    const after = flatten(settings);
    const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])]
      .filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
      .sort()
      .map((setting) => ({ setting, before: before[setting] ?? null, after: after[setting] ?? null }));
    await audit.record(trx, {
      type: 'dev.palisade.system.config.changed.v1',
      subject: 'config',
      actor,
      path: '/',
      body: { changes: changed },
    });
    const hold = changed.find((c) => c.setting === 'audit.legalHold');
    if (hold) {
      await audit.record(trx, {
        type:
          hold.after === true
            ? 'dev.palisade.audit.legal-hold.enabled.v1'
            : 'dev.palisade.audit.legal-hold.disabled.v1',
        subject: 'audit-log',
        actor,
        path: '/',
        body: { before: hold.before, after: hold.after },
      });
    }
    await trx
      .updateTable('config_snapshot')
      .set({ settings: text, updated_at: now })
      .where('id', '=', 1)
      .execute();
    return { first: false, changed };
  });
}
