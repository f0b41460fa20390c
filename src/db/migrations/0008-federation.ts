// Workload identity federation: trust policies ("assumable identities"). Each names the external
// issuer and the subject (exactly or by pattern) whose tokens may be exchanged, optional audience
// and claim patterns, and what the exchanged token may do: roles in one organization, everywhere
// in it or on listed repositories. The grants themselves live in role_bindings (principal
// identity:<id>), so authorisation has one code path for people and machines.
import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

export function federationMigration(dialect: Dialect) {
  const int64 = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('trust_policies')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('organization', 'varchar(255)', (c) => c.notNull())
        .addColumn('description', 'varchar(500)')
        .addColumn('issuer', 'varchar(255)')
        .addColumn('issuer_pattern', 'varchar(300)')
        .addColumn('subject', 'varchar(512)')
        .addColumn('subject_pattern', 'varchar(300)')
        .addColumn('audience', 'varchar(512)')
        .addColumn('audience_pattern', 'varchar(300)')
        /** JSON object: claim name → pattern. */
        .addColumn('claim_patterns', 'text', (c) => c.notNull())
        /** JSON array of role names. */
        .addColumn('roles', 'text', (c) => c.notNull())
        /** JSON array of repository names; empty: the whole organization. */
        .addColumn('repositories', 'text', (c) => c.notNull())
        .addColumn('max_ttl_seconds', 'integer', (c) => c.notNull())
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('updated_at', int64, (c) => c.notNull())
        .addColumn('created_by', 'varchar(300)', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('trust_policies_organization')
        .on('trust_policies')
        .column('organization')
        .execute();
    },
  };
}
