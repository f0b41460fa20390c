// People: passkeys (WebAuthn credentials), one-time enrollment links (hashes only), web
// sessions (hashes only) and pending WebAuthn ceremonies (single-use challenges).
import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

export function peopleMigration(dialect: Dialect) {
  const int64 = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('passkeys')
        /** The credential id, base64url (at most 1023 bytes raw per WebAuthn). */
        .addColumn('id', 'varchar(1400)', (c) => c.primaryKey())
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('counter', int64, (c) => c.notNull())
        .addColumn('transports', 'text', (c) => c.notNull())
        .addColumn('device_type', 'varchar(16)', (c) => c.notNull())
        .addColumn('backed_up', 'integer', (c) => c.notNull())
        .addColumn('name', 'varchar(100)', (c) => c.notNull())
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('last_used_at', int64)
        .execute();
      await db.schema.createIndex('passkeys_user').on('passkeys').column('user_id').execute();

      await db.schema
        .createTable('enrollment_tokens')
        .addColumn('token_hash', 'varchar(64)', (c) => c.primaryKey())
        /** Null: using the link creates a new user; otherwise it adds a passkey to this user. */
        .addColumn('user_id', 'varchar(36)', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('make_admin', 'integer', (c) => c.notNull())
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('expires_at', int64, (c) => c.notNull())
        .addColumn('used_at', int64)
        .execute();

      await db.schema
        .createTable('web_sessions')
        .addColumn('id_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('last_seen_at', int64, (c) => c.notNull())
        .addColumn('expires_at', int64, (c) => c.notNull())
        /** How the user authenticated: RFC 8176 amr (JSON array), acr, auth_time, upstream iss/sub. */
        .addColumn('amr', 'text', (c) => c.notNull())
        .addColumn('acr', 'varchar(255)')
        .addColumn('auth_time', int64, (c) => c.notNull())
        .addColumn('upstream_iss', 'varchar(2048)')
        .addColumn('upstream_sub', 'varchar(255)')
        .execute();
      await db.schema.createIndex('web_sessions_user').on('web_sessions').column('user_id').execute();

      await db.schema
        .createTable('ceremonies')
        .addColumn('id_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('kind', 'varchar(16)', (c) => c.notNull())
        .addColumn('challenge', 'varchar(128)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(36)')
        .addColumn('enrollment_hash', 'varchar(64)')
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('expires_at', int64, (c) => c.notNull())
        .execute();
    },
  };
}
