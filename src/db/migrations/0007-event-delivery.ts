// Delivery of the audit log to customers' systems, and the record of the configuration in force.
// A subscription is its own durable outbox: the audit log is the queue, and `cursor_seq` (the last
// sequence number handed to the sink or skipped as not matching) is how far it has got. Nothing is
// copied per event, so a sink that is down for days costs one row, and a restart resumes exactly.
import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

export function eventDeliveryMigration(dialect: Dialect) {
  const int64 = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('event_subscriptions')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        /** The organization whose events it receives; null: the whole log (administrators). */
        .addColumn('org', 'varchar(255)')
        .addColumn('sink_url', 'varchar(2048)', (c) => c.notNull())
        /** JSON array of type prefixes; empty: every type. */
        .addColumn('types', 'text', (c) => c.notNull())
        .addColumn('description', 'varchar(500)')
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('created_by', 'varchar(300)', (c) => c.notNull())
        .addColumn('cursor_seq', int64, (c) => c.notNull())
        /** active | failing (gave up retrying after the retry window; events wait for a redelivery). */
        .addColumn('status', 'varchar(20)', (c) => c.notNull())
        /** When the current run of failures began; null while deliveries succeed. */
        .addColumn('failing_since', int64)
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', int64, (c) => c.notNull())
        .addColumn('last_error', 'varchar(1000)')
        .addColumn('last_attempt_at', int64)
        .addColumn('last_delivered_at', int64)
        .addColumn('delivered_total', int64, (c) => c.notNull())
        /** Which server instance works on it until when (replicas sharing a database take turns). */
        .addColumn('lease_owner', 'varchar(64)')
        .addColumn('lease_until', int64, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('event_subscriptions_org')
        .on('event_subscriptions')
        .column('org')
        .execute();

      // The security-relevant configuration last started with, so a change is recorded as an event.
      await db.schema
        .createTable('config_snapshot')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('settings', 'text', (c) => c.notNull())
        .addColumn('updated_at', int64, (c) => c.notNull())
        .execute();
    },
  };
}
