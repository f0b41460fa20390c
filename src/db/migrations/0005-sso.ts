// Company SSO: identity providers an administrator configured (secrets encrypted under the KEK),
// the upstream identities people signed in with — keyed by (issuer, subject), never by email —
// and pending sign-ins (state → PKCE verifier and nonce; single use).
import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

export function ssoMigration(dialect: Dialect) {
  const int64 = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('identity_providers')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('display_name', 'varchar(100)', (c) => c.notNull())
        .addColumn('issuer', 'varchar(2048)', (c) => c.notNull())
        .addColumn('client_id', 'varchar(255)', (c) => c.notNull())
        /** client_secret_basic | client_secret_post | private_key_jwt */
        .addColumn('auth_method', 'varchar(32)', (c) => c.notNull())
        /** The client secret, or the private JWK for private_key_jwt, sealed under the KEK. */
        .addColumn('credential_encrypted', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text')
        .addColumn('extra_scopes', 'varchar(500)', (c) => c.notNull())
        /** JSON arrays. */
        .addColumn('allowed_email_domains', 'text', (c) => c.notNull())
        .addColumn('acr_values', 'varchar(500)', (c) => c.notNull())
        .addColumn('accepted_acr', 'text', (c) => c.notNull())
        .addColumn('require_mfa', 'integer', (c) => c.notNull())
        .addColumn('default_role', 'varchar(32)')
        .addColumn('default_organization', 'varchar(255)')
        .addColumn('created_at', int64, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('user_identities')
        .addColumn('issuer', 'varchar(2048)', (c) => c.notNull())
        .addColumn('subject', 'varchar(255)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('provider_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('email', 'varchar(320)')
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('last_sign_in_at', int64, (c) => c.notNull())
        .addPrimaryKeyConstraint('user_identities_pk', ['issuer', 'subject'])
        .execute();
      await db.schema.createIndex('user_identities_user').on('user_identities').column('user_id').execute();

      await db.schema
        .createTable('sso_logins')
        .addColumn('state_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('provider_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('code_verifier', 'varchar(128)', (c) => c.notNull())
        .addColumn('nonce', 'varchar(128)', (c) => c.notNull())
        .addColumn('return_to', 'varchar(600)', (c) => c.notNull())
        .addColumn('created_at', int64, (c) => c.notNull())
        .addColumn('expires_at', int64, (c) => c.notNull())
        .execute();
    },
  };
}
