// Opens the metadata database: SQLite (better-sqlite3, WAL) by default, PostgreSQL for a
// postgres:// URL. Both go through Kysely and share one schema and one set of migrations.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  sql,
  type DatabaseConnection,
  type Dialect as KyselyDialect,
  type Driver,
  type Migration,
} from 'kysely';
import pg from 'pg';
import { dialectOf, type Dialect } from './dialect.js';
import { FALLBACK_AUTOCHECKPOINT_PAGES, SqliteCheckpointer } from './sqlite-checkpointer.js';
import { registryMigration } from './migrations/0001-registry.js';
import { identityMigration } from './migrations/0002-identity.js';
import { peopleMigration } from './migrations/0003-people.js';
import { oauthMigration } from './migrations/0004-oauth.js';
import { ssoMigration } from './migrations/0005-sso.js';
import { auditMigration } from './migrations/0006-audit.js';
import { eventDeliveryMigration } from './migrations/0007-event-delivery.js';
import { federationMigration } from './migrations/0008-federation.js';
import { scanningMigration } from './migrations/0009-scanning.js';
import { auditIndexesMigration } from './migrations/0010-audit-indexes.js';
import { auditOutboxMigration } from './migrations/0011-audit-outbox.js';
import type { Database } from './schema.js';

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: Dialect;
  /**
   * SQLite only: the connection's cached prepared statements, for a hot path that runs inside a
   * Kysely transaction (there is one connection, and the transaction holds it).
   */
  statements?: (text: string) => SQLite.Statement;
  /**
   * Runs `listener` after each transaction that inserted into `table` has committed and given its
   * connection back; the transaction's caller goes on once the listener has finished.
   */
  afterCommitOf(table: string, listener: () => Promise<void>): void;
  /** Throws when the database cannot answer a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const int8AsNumber: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === 20
      ? (value: string) => Number(value)
      : (pg.types.getTypeParser(oid, format ?? 'text') as unknown)) as pg.CustomTypesConfig['getTypeParser'],
};

export interface OpenDatabaseOptions {
  /**
   * SQLite: checkpoint the WAL on a thread of its own rather than in the commits of requests
   * (the server; short-lived commands do without the thread).
   */
  backgroundCheckpoints?: boolean;
}

/** `url` is a postgres:// URL, or a SQLite file path (optionally prefixed with sqlite:). */
export function openDatabase(url: string, options: OpenDatabaseOptions = {}): DatabaseHandle {
  const dialect = dialectOf(url);
  let db: Kysely<Database>;
  let statements: DatabaseHandle['statements'];
  let checkpointer: SqliteCheckpointer | undefined;
  const hooks = new Map<string, (() => Promise<void>)[]>();
  if (dialect === 'postgres') {
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      // int8 columns hold millisecond times and sizes, all well inside 2^53.
      types: int8AsNumber,
    });
    db = new Kysely<Database>({ dialect: withCommitHooks(new PostgresDialect({ pool }), hooks) });
  } else {
    const file = url.replace(/^sqlite:(?:\/\/)?/, '');
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const database = new SQLite(file);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    if (options.backgroundCheckpoints && file !== ':memory:') {
      database.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
      checkpointer = new SqliteCheckpointer(file);
    }
    const cached = withStatementCache(database);
    statements = (text) => cached.prepare(text);
    db = new Kysely<Database>({ dialect: withCommitHooks(new SqliteDialect({ database: cached }), hooks) });
  }
  return {
    db,
    dialect,
    ...(statements ? { statements } : {}),
    afterCommitOf(table, listener) {
      hooks.set(table, [...(hooks.get(table) ?? []), listener]);
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await checkpointer?.close();
      await db.destroy();
    },
  };
}

/** A connection as handed out by withCommitHooks: the tables its open transaction inserted into. */
interface TrackedConnection extends DatabaseConnection {
  real: DatabaseConnection;
  wrote: Set<string>;
  committed: Set<string>;
}

/**
 * The dialect with a driver that runs the hooks of the tables a transaction inserted into, after
 * its commit and after its connection is back in the pool (a hook may need one itself).
 */
function withCommitHooks(dialect: KyselyDialect, hooks: Map<string, (() => Promise<void>)[]>): KyselyDialect {
  // Kysely writes `insert into "table"`; only tables with hooks are looked for.
  const noteInserts = (connection: TrackedConnection, text: string) => {
    if (hooks.size === 0 || !text.startsWith('insert into "')) return;
    for (const table of hooks.keys()) {
      if (text.startsWith(`insert into "${table}"`)) connection.wrote.add(table);
    }
  };
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver() {
      const driver = dialect.createDriver();
      const real = (connection: DatabaseConnection) => (connection as TrackedConnection).real;
      // Delegation by hand: the drivers keep their state in private fields, bound to themselves.
      const hooked: Driver = {
        init: () => driver.init(),
        async acquireConnection() {
          const connection = await driver.acquireConnection();
          const tracked: TrackedConnection = {
            real: connection,
            wrote: new Set(),
            committed: new Set(),
            executeQuery(query) {
              noteInserts(tracked, query.sql);
              return connection.executeQuery(query);
            },
            streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
          };
          return tracked;
        },
        beginTransaction(connection, settings) {
          (connection as TrackedConnection).wrote.clear();
          return driver.beginTransaction(real(connection), settings);
        },
        async commitTransaction(connection) {
          const tracked = connection as TrackedConnection;
          await driver.commitTransaction(tracked.real);
          for (const table of tracked.wrote) tracked.committed.add(table);
          tracked.wrote.clear();
        },
        rollbackTransaction(connection) {
          (connection as TrackedConnection).wrote.clear();
          return driver.rollbackTransaction(real(connection));
        },
        async releaseConnection(connection) {
          const tracked = connection as TrackedConnection;
          await driver.releaseConnection(tracked.real);
          const tables = [...tracked.committed];
          tracked.committed.clear();
          for (const table of tables) for (const hook of hooks.get(table) ?? []) await hook();
        },
        destroy: () => driver.destroy(),
      };
      if (driver.savepoint) {
        const savepoint = driver.savepoint.bind(driver);
        hooked.savepoint = (connection, name, compile) => savepoint(real(connection), name, compile);
      }
      if (driver.rollbackToSavepoint) {
        const rollback = driver.rollbackToSavepoint.bind(driver);
        hooked.rollbackToSavepoint = (connection, name, compile) => rollback(real(connection), name, compile);
      }
      if (driver.releaseSavepoint) {
        const release = driver.releaseSavepoint.bind(driver);
        hooked.releaseSavepoint = (connection, name, compile) => release(real(connection), name, compile);
      }
      return hooked;
    },
  };
}

/**
 * Kysely prepares every query afresh; on SQLite that is most of a point lookup's cost. Queries
 * are parameterised, so their text repeats: keep the prepared statements (bounded, LRU-ish).
 */
function withStatementCache(
  database: SQLite.Database,
  limit = 500,
): { close(): void; prepare(text: string): SQLite.Statement } {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => database.close(),
    prepare(text: string) {
      let statement = cache.get(text);
      if (statement) {
        cache.delete(text);
      } else {
        statement = database.prepare(text);
        if (cache.size >= limit) cache.delete(cache.keys().next().value!);
      }
      cache.set(text, statement);
      return statement;
    },
  };
}

export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001-registry': registryMigration(dialect),
    '0002-identity': identityMigration(dialect),
    '0003-people': peopleMigration(dialect),
    '0004-oauth': oauthMigration(dialect),
    '0005-sso': ssoMigration(dialect),
    '0006-audit': auditMigration(dialect),
    '0007-event-delivery': eventDeliveryMigration(dialect),
    '0008-federation': federationMigration(dialect),
    '0009-scanning': scanningMigration(dialect),
    '0010-audit-indexes': auditIndexesMigration(),
    '0011-audit-outbox': auditOutboxMigration(dialect),
  };
}

/** Brings the schema up to date; safe to run at every start. */
export async function migrateToLatest(handle: DatabaseHandle): Promise<void> {
  // Kysely looks for its bookkeeping tables across every schema it can see; on PostgreSQL pin
  // them to the connection's own schema so another schema's tables are never mistaken for ours.
  const schema =
    handle.dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(handle.db)).rows[0]?.schema
      : undefined;
  const migrator = new Migrator({
    db: handle.db,
    provider: { getMigrations: () => Promise.resolve(migrations(handle.dialect)) },
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(
      `database migration ${failed} failed: ${error instanceof Error ? error.message : 'unknown error'}`,
    );
  }
}
