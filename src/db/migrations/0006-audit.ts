// The audit log: every change as a CloudEvent, numbered and hash-chained, written in the
// transaction that makes the change. audit_head holds the chain's tip in one row: locking it
// serialises appends, so sequence numbers have no gaps and each hash covers its predecessor.
import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

export function auditMigration(dialect: Dialect) {
  const int64 = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('audit_events')
        .addColumn('seq', int64, (c) => c.primaryKey())
        .addColumn('id', 'varchar(36)', (c) => c.notNull().unique())
        .addColumn('type', 'varchar(200)', (c) => c.notNull())
        .addColumn('subject', 'varchar(1000)')
        .addColumn('org', 'varchar(255)')
        .addColumn('actor', 'varchar(300)', (c) => c.notNull())
        /** Milliseconds since the epoch (the event's `time`), for range queries. */
        .addColumn('time', int64, (c) => c.notNull())
        /** The CloudEvent exactly as hashed (structured JSON). */
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'varchar(64)', (c) => c.notNull())
        .addColumn('hash', 'varchar(64)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_events_time').on('audit_events').column('time').execute();
      await db.schema.createIndex('audit_events_type').on('audit_events').column('type').execute();
      await db.schema.createIndex('audit_events_org').on('audit_events').columns(['org', 'seq']).execute();

      await db.schema
        .createTable('audit_head')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', int64, (c) => c.notNull())
        .addColumn('hash', 'varchar(64)', (c) => c.notNull())
        .execute();
      await sql`insert into audit_head (id, seq, hash) values (1, 0, ${'0'.repeat(64)})`.execute(db);

      await db.schema
        .createTable('audit_checkpoints')
        .addColumn('seq', int64, (c) => c.primaryKey())
        .addColumn('hash', 'varchar(64)', (c) => c.notNull())
        .addColumn('created_at', int64, (c) => c.notNull())
        /** A JWT signed with the issuer's key: {iss, sub: "audit-checkpoint", seq, hash, iat}. */
        .addColumn('jws', 'text', (c) => c.notNull())
        .execute();

      // Where the retained chain starts once a prefix was pruned: a signed (seq, hash).
      await db.schema
        .createTable('audit_anchor')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', int64, (c) => c.notNull())
        .addColumn('hash', 'varchar(64)', (c) => c.notNull())
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('jws', 'text', (c) => c.notNull())
        .execute();
    },
  };
}
