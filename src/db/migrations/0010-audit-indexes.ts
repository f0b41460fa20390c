// Two of the audit log's indexes are dropped; every change wrote them and they were not worth it.
// `type`: type filters are prefix matches (LIKE 'x%'), which neither SQLite (case-insensitive
// LIKE) nor PostgreSQL (outside the C collation) answers from a plain b-tree index. `time`: an
// event's id is a UUIDv7 carrying its time, so the unique index on `id` answers time ranges.
import type { Kysely } from 'kysely';

export function auditIndexesMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('audit_events_type').ifExists().execute();
      await db.schema.dropIndex('audit_events_time').ifExists().execute();
    },
  };
}
