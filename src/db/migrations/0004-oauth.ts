// OAuth grants: device authorization requests (RFC 8628) and refresh tokens. Codes and tokens
// are stored only as SHA-256 hashes; refresh tokens rotate within a family so a replayed one
// revokes the whole family.
import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

export function oauthMigration(dialect: Dialect) {
  const int64 = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // "Sign out everywhere" also ends access tokens already issued: those older than this.
      await db.schema.alterTable('users').addColumn('tokens_not_before', int64).execute();
      await db.schema
        .createTable('device_grants')
        .addColumn('device_code_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('user_code_hash', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('client_id', 'varchar(100)', (c) => c.notNull())
        .addColumn('scope', 'varchar(255)', (c) => c.notNull())
        /** pending → approved | denied → issued */
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(36)', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('authentication', 'text')
        .addColumn('interval_seconds', 'integer', (c) => c.notNull())
        .addColumn('last_polled_at', int64)
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('expires_at', int64, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('refresh_tokens')
        .addColumn('token_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('family_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('client_id', 'varchar(100)', (c) => c.notNull())
        .addColumn('scope', 'varchar(255)', (c) => c.notNull())
        /** The original sign-in (amr, acr, auth_time, upstream), carried into every access token. */
        .addColumn('authentication', 'text', (c) => c.notNull())
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('idle_expires_at', int64, (c) => c.notNull())
        .addColumn('family_expires_at', int64, (c) => c.notNull())
        /** Set when rotated (used once) or revoked; a used token presented again revokes its family. */
        .addColumn('used_at', int64)
        .addColumn('revoked_at', int64)
        .execute();
      await db.schema.createIndex('refresh_tokens_family').on('refresh_tokens').column('family_id').execute();
      await db.schema.createIndex('refresh_tokens_user').on('refresh_tokens').column('user_id').execute();
    },
  };
}
