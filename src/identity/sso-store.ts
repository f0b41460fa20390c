// SQL for company SSO: configured identity providers, linked upstream identities (by issuer and
// subject) and pending sign-ins (single use).
import type { Kysely, Transaction } from 'kysely';
import type { Database, IdentityProvidersTable, SsoLoginsTable, UserIdentitiesTable } from '../db/schema.js';

export type Executor = Kysely<Database> | Transaction<Database>;

export class SsoStore {
  constructor(readonly db: Kysely<Database>) {}

  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  providers(ex: Executor): Promise<IdentityProvidersTable[]> {
    return ex.selectFrom('identity_providers').selectAll().orderBy('id').execute();
  }

  provider(ex: Executor, id: string): Promise<IdentityProvidersTable | undefined> {
    return ex.selectFrom('identity_providers').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async insertProvider(ex: Executor, row: IdentityProvidersTable): Promise<void> {
    await ex.insertInto('identity_providers').values(row).execute();
  }

  async deleteProvider(ex: Executor, id: string): Promise<boolean> {
    const result = await ex.deleteFrom('identity_providers').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  identity(ex: Executor, issuer: string, subject: string): Promise<UserIdentitiesTable | undefined> {
    return ex
      .selectFrom('user_identities')
      .selectAll()
      .where('issuer', '=', issuer)
      .where('subject', '=', subject)
      .executeTakeFirst();
  }

  async insertIdentity(ex: Executor, row: UserIdentitiesTable): Promise<void> {
    await ex.insertInto('user_identities').values(row).execute();
  }

  async touchIdentity(
    ex: Executor,
    issuer: string,
    subject: string,
    now: number,
    email: string | null,
  ): Promise<void> {
    await ex
      .updateTable('user_identities')
      .set({ last_sign_in_at: now, email })
      .where('issuer', '=', issuer)
      .where('subject', '=', subject)
      .execute();
  }

  async insertLogin(ex: Executor, row: SsoLoginsTable): Promise<void> {
    await ex.deleteFrom('sso_logins').where('expires_at', '<=', row.created_at).execute();
    await ex.insertInto('sso_logins').values(row).execute();
  }

  async takeLogin(ex: Executor, stateHash: string): Promise<SsoLoginsTable | undefined> {
    const row = await ex
      .selectFrom('sso_logins')
      .selectAll()
      .where('state_hash', '=', stateHash)
      .executeTakeFirst();
    if (!row) return undefined;
    const result = await ex.deleteFrom('sso_logins').where('state_hash', '=', stateHash).executeTakeFirst();
    return Number(result.numDeletedRows) === 1 ? row : undefined;
  }
}
