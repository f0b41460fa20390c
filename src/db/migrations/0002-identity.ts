// Identity: the issuer's signing keys (private halves encrypted), users, organizations, role
// bindings, repositories an admin made public, and revoked token ids (sign-out before expiry).
import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

export function identityMigration(dialect: Dialect) {
  const int64 = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('alg', 'varchar(16)', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        /** AES-256-GCM under the key-encryption key; see identity/key-encryption.ts. */
        .addColumn('private_jwk_encrypted', 'text', (c) => c.notNull())
        .addColumn('kek_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('created_at', int64, (c) => c.notNull())
        /** Signs from here … */
        .addColumn('activates_at', int64, (c) => c.notNull())
        /** … until here, */
        .addColumn('retires_at', int64, (c) => c.notNull())
        /** and stays in the JWKS until here (tokens it signed may still be in flight). */
        .addColumn('expires_at', int64, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('users')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('display_name', 'varchar(255)', (c) => c.notNull())
        .addColumn('email', 'varchar(320)')
        .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('disabled_at', int64)
        .execute();

      await db.schema
        .createTable('organizations')
        .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('created_at', int64, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('role_bindings')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        /** `user:<id>` or `identity:<id>` (a workload trust policy). */
        .addColumn('principal', 'varchar(300)', (c) => c.notNull())
        .addColumn('role', 'varchar(32)', (c) => c.notNull())
        .addColumn('organization', 'varchar(255)', (c) =>
          c.notNull().references('organizations.name').onDelete('cascade'),
        )
        /** '' binds the role in the whole organization; otherwise one repository in it. */
        .addColumn('repository', 'varchar(255)', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', int64, (c) => c.notNull())
        .addUniqueConstraint('role_bindings_unique', ['principal', 'role', 'organization', 'repository'])
        .execute();
      await db.schema
        .createIndex('role_bindings_principal')
        .on('role_bindings')
        .column('principal')
        .execute();

      await db.schema
        .createTable('public_repositories')
        .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('created_at', int64, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('revoked_tokens')
        .addColumn('jti', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('expires_at', int64, (c) => c.notNull())
        .execute();
    },
  };
}
