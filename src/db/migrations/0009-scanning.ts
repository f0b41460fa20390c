// Durable background jobs, image analyses (SBOM inventories and their referrers), the OSV
// vulnerability database and the findings that link the two. Jobs are rows, not an in-memory
// queue, so an analysis requested by a push survives a restart; findings are stored so that a
// database change can be compared with what was known before and the difference recorded.
import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

export function scanningMigration(dialect: Dialect) {
  const int64 = dialect === 'postgres' ? 'bigint' : 'integer';
  const real = dialect === 'postgres' ? 'double precision' : 'real';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('kind', 'varchar(64)', (c) => c.notNull())
        /** One live job per key: enqueuing an existing key re-arms it instead of adding another. */
        .addColumn('key', 'varchar(700)', (c) => c.notNull().unique())
        .addColumn('payload', 'text', (c) => c.notNull())
        /** queued | running | succeeded | failed */
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('max_attempts', 'integer', (c) => c.notNull())
        /** 1 when enqueued again while running: it runs once more after this run. */
        .addColumn('rerun', 'integer', (c) => c.notNull())
        .addColumn('run_after', int64, (c) => c.notNull())
        .addColumn('lease_owner', 'varchar(64)')
        .addColumn('lease_until', int64, (c) => c.notNull())
        .addColumn('last_error', 'varchar(2000)')
        .addColumn('result', 'text')
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('updated_at', int64, (c) => c.notNull())
        .addColumn('finished_at', int64)
        .execute();
      await db.schema.createIndex('jobs_due').on('jobs').columns(['state', 'run_after']).execute();

      await db.schema
        .createTable('image_analyses')
        .addColumn('repository', 'varchar(255)', (c) => c.notNull())
        .addColumn('digest', 'varchar(200)', (c) => c.notNull())
        /** queued | running | done | failed */
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('failure_reason', 'varchar(40)')
        .addColumn('failure_message', 'varchar(1000)')
        /** JSON Distro, from etc/os-release. */
        .addColumn('distro', 'text')
        /** JSON InstalledPackage[] read from the layers (user-pushed SBOMs are read when matching). */
        .addColumn('inventory', 'text')
        .addColumn('package_count', 'integer', (c) => c.notNull())
        .addColumn('spdx_digest', 'varchar(200)')
        .addColumn('cyclonedx_digest', 'varchar(200)')
        .addColumn('layer_bytes', int64, (c) => c.notNull())
        .addColumn('analysed_at', int64)
        .addColumn('matched_at', int64)
        .addColumn('updated_at', int64, (c) => c.notNull())
        .addPrimaryKeyConstraint('image_analyses_pk', ['repository', 'digest'])
        .execute();

      await db.schema
        .createTable('image_packages')
        .addColumn('repository', 'varchar(255)', (c) => c.notNull())
        .addColumn('digest', 'varchar(200)', (c) => c.notNull())
        /** OSV ecosystem (e.g. Alpine:v3.19) and normalised package name the image is matched under. */
        .addColumn('ecosystem', 'varchar(100)', (c) => c.notNull())
        .addColumn('name', 'varchar(300)', (c) => c.notNull())
        .addPrimaryKeyConstraint('image_packages_pk', ['repository', 'digest', 'ecosystem', 'name'])
        .execute();
      await db.schema
        .createIndex('image_packages_key')
        .on('image_packages')
        .columns(['ecosystem', 'name'])
        .execute();

      await db.schema
        .createTable('vulnerabilities')
        .addColumn('id', 'varchar(100)', (c) => c.primaryKey())
        /** RFC 3339 as the record says, and in ms for comparisons. */
        .addColumn('modified', 'varchar(40)', (c) => c.notNull())
        .addColumn('modified_ms', int64, (c) => c.notNull())
        .addColumn('published', 'varchar(40)')
        .addColumn('withdrawn', 'varchar(40)')
        /** JSON array. */
        .addColumn('aliases', 'text', (c) => c.notNull())
        .addColumn('summary', 'varchar(1000)')
        /** JSON Severity of the record, if any. */
        .addColumn('severity', 'text')
        /** The parsed record, JSON. */
        .addColumn('record', 'text', (c) => c.notNull())
        .addColumn('imported_at', int64, (c) => c.notNull())
        .execute();

      /** One row: bumped by every import batch, so every server's match cache knows to refresh. */
      await db.schema
        .createTable('vulndb_state')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('generation', int64, (c) => c.notNull())
        .execute();
      await sql`insert into vulndb_state (id, generation) values (1, 0)`.execute(db);

      await db.schema
        .createTable('affected_packages')
        .addColumn('vuln_id', 'varchar(100)', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('ecosystem', 'varchar(100)', (c) => c.notNull())
        .addColumn('name', 'varchar(300)', (c) => c.notNull())
        /** JSON: the affected entry (ranges, versions, severity). */
        .addColumn('affected', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('affected_packages_pk', ['vuln_id', 'idx'])
        .execute();
      await db.schema
        .createIndex('affected_packages_key')
        .on('affected_packages')
        .columns(['ecosystem', 'name'])
        .execute();

      await db.schema
        .createTable('findings')
        .addColumn('repository', 'varchar(255)', (c) => c.notNull())
        .addColumn('digest', 'varchar(200)', (c) => c.notNull())
        /** The vulnerability as one finding: its CVE alias when it has one, otherwise its smallest id. */
        .addColumn('vuln_id', 'varchar(100)', (c) => c.notNull())
        .addColumn('purl', 'varchar(1000)', (c) => c.notNull())
        /** JSON array: every record id that matched (e.g. the GHSA and the PYSEC of one CVE). */
        .addColumn('ids', 'text', (c) => c.notNull())
        .addColumn('aliases', 'text', (c) => c.notNull())
        .addColumn('package_name', 'varchar(300)', (c) => c.notNull())
        .addColumn('package_version', 'varchar(300)', (c) => c.notNull())
        .addColumn('ecosystem', 'varchar(100)', (c) => c.notNull())
        .addColumn('fixed_version', 'varchar(300)')
        .addColumn('severity', 'varchar(16)', (c) => c.notNull())
        .addColumn('score', real)
        .addColumn('summary', 'varchar(1000)')
        /** JSON: which range or version list matched, per record. */
        .addColumn('evidence', 'text', (c) => c.notNull())
        .addColumn('first_seen_at', int64, (c) => c.notNull())
        .addPrimaryKeyConstraint('findings_pk', ['repository', 'digest', 'vuln_id', 'purl'])
        .execute();
    },
  };
}
