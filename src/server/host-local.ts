// What host-local admin commands open instead of a server: the same database (migrated), the
// same key-encryption key and signing keys, from the same configuration as `serve`. Access to the
// data directory or database is the credential; nothing listens on the network.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import {
  migrateToLatest,
  openDatabase,
  type DatabaseHandle,
  type OpenDatabaseOptions,
} from '../db/database.js';
import { AuditLog } from '../audit/audit-log.js';
import { AuditStore } from '../audit/store.js';
import { IdentityService, issuerUrl } from '../identity/service.js';

export interface HostLocal {
  config: Config;
  database: DatabaseHandle;
  identity: IdentityService;
  audit: AuditLog;
  close(): Promise<void>;
}

export function openHostLocal(config: Config): Promise<HostLocal> {
  return openCore(config, () => issuerUrl(config));
}

/** The stateful core shared by `serve` and host-local commands: data directory, database, identity. */
export async function openCore(
  config: Config,
  issuer: () => string,
  options: OpenDatabaseOptions = {},
): Promise<HostLocal> {
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const database = openDatabase(config.databaseUrl ?? join(dataDir, 'palisade.db'), options);
  try {
    await migrateToLatest(database);
    const audit = new AuditLog(AuditStore.of(database), issuer);
    const identity = new IdentityService(config, database, { issuer, audit });
    await identity.maintain();
    // A signing key this server cannot decrypt (another KEK) must stop start-up, not the first sign-in.
    await identity.keys.signingKey();
    return {
      config,
      database,
      identity,
      audit,
      async close() {
        // A command's events in the outbox (PostgreSQL) are chained before it exits.
        await audit.settle().catch(() => undefined);
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}
