// Test helper: yields a fresh, migrated database for each dialect under test — SQLite always,
// PostgreSQL too when PALISADE_TEST_DATABASE_URL is set (CI sets it). Each PostgreSQL database is
// a schema of its own, dropped afterwards, so test files can run in parallel.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrateToLatest, openDatabase, type DatabaseHandle } from './database.js';
import type { Dialect } from './dialect.js';

export interface TestDatabase {
  dialect: Dialect;
  /** URL that opens this same database again (e.g. for a server process). */
  url: string;
  open(): Promise<DatabaseHandle>;
  dispose(): Promise<void>;
}

export function testDialects(): Dialect[] {
  return process.env.PALISADE_TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-db-'));
    const url = join(dir, 'palisade.db');
    const handle = openDatabase(url);
    await migrateToLatest(handle);
    await handle.close();
    return {
      dialect,
      url,
      open: () => Promise.resolve(openDatabase(url)),
      dispose: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
    };
  }
  const base = process.env.PALISADE_TEST_DATABASE_URL;
  if (!base) throw new Error('PALISADE_TEST_DATABASE_URL is not set');
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = withSearchPath(base, schema);
  const handle = openDatabase(url);
  await migrateToLatest(handle);
  await handle.close();
  return {
    dialect,
    url,
    open: () => Promise.resolve(openDatabase(url)),
    async dispose() {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}

function withSearchPath(base: string, schema: string): string {
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}
