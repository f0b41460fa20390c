// Events waiting to be chained. On PostgreSQL a change writes its events here, in its own
// transaction, and a chainer numbers and hashes them into audit_events after the commit, so
// concurrent changes do not queue on the chain head's lock through each other's commits. SQLite
// runs one writer at a time and chains inside the transaction; the table is there on both so
// the schema is one.
import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

export function auditOutboxMigration(dialect: Dialect) {
  const int64 = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('audit_outbox')
        // Arrival order (chaining follows commit order, which this only approximates).
        .addColumn('n', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => c.primaryKey())
        .addColumn('id', 'varchar(36)', (c) => c.notNull())
        .addColumn('type', 'varchar(200)', (c) => c.notNull())
        .addColumn('subject', 'varchar(1000)')
        .addColumn('org', 'varchar(255)')
        .addColumn('actor', 'varchar(300)', (c) => c.notNull())
        .addColumn('time', int64, (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .execute();
    },
  };
}
