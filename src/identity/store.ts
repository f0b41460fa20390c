// SQL for identity: signing keys, users, organizations, role bindings, public repositories and
// revoked token ids. Methods take the executor they run on, so services own the transactions.
import type { Kysely, Transaction } from 'kysely';
import type { Database, RoleBindingsTable, SigningKeysTable, UsersTable } from '../db/schema.js';

export type Executor = Kysely<Database> | Transaction<Database>;

export type BindingRow = RoleBindingsTable;

export class IdentityStore {
  readonly #invalidated: (() => void)[] = [];

  constructor(readonly db: Kysely<Database>) {}

  /** Called after anything that can end tokens early (revocation, disabling, sign-out everywhere). */
  onTokensInvalidated(listener: () => void): void {
    this.#invalidated.push(listener);
  }

  #notify(): void {
    for (const listener of this.#invalidated) listener();
  }

  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  // --- signing keys ---

  /** Keys still published (not yet expired), newest activation first. */
  publishedKeys(ex: Executor, now: number): Promise<SigningKeysTable[]> {
    return ex
      .selectFrom('signing_keys')
      .selectAll()
      .where('expires_at', '>', now)
      .orderBy('activates_at', 'desc')
      .orderBy('kid', 'desc')
      .execute();
  }

  async insertKey(ex: Executor, row: SigningKeysTable): Promise<void> {
    await ex.insertInto('signing_keys').values(row).execute();
  }

  async deleteExpiredKeys(ex: Executor, now: number): Promise<number> {
    const result = await ex.deleteFrom('signing_keys').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // --- users ---

  findUser(ex: Executor, id: string): Promise<UsersTable | undefined> {
    return ex.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async insertUser(ex: Executor, row: UsersTable): Promise<void> {
    await ex.insertInto('users').values(row).execute();
  }

  /** Access tokens of this user issued before `now` stop working (sign out everywhere). */
  async invalidateTokensOf(ex: Executor, userId: string, now: number): Promise<void> {
    await ex.updateTable('users').set({ tokens_not_before: now }).where('id', '=', userId).execute();
    this.#notify();
  }

  listUsers(ex: Executor, limit: number, after?: string): Promise<UsersTable[]> {
    let query = ex.selectFrom('users').selectAll().orderBy('id').limit(limit);
    if (after !== undefined) query = query.where('id', '>', after);
    return query.execute();
  }

  async updateUser(
    ex: Executor,
    id: string,
    changes: { display_name?: string; email?: string | null; is_admin?: number; disabled_at?: number | null },
  ): Promise<boolean> {
    if (Object.keys(changes).length === 0) return (await this.findUser(ex, id)) !== undefined;
    const result = await ex.updateTable('users').set(changes).where('id', '=', id).executeTakeFirst();
    this.#notify();
    return Number(result.numUpdatedRows) === 1;
  }

  async countAdmins(ex: Executor): Promise<number> {
    const row = await ex
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('is_admin', '=', 1)
      .where('disabled_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async trustPolicyExists(ex: Executor, id: string): Promise<boolean> {
    return (
      (await ex.selectFrom('trust_policies').select('id').where('id', '=', id).executeTakeFirst()) !==
      undefined
    );
  }

  // --- organizations and bindings ---

  async ensureOrganization(ex: Executor, name: string, now: number): Promise<void> {
    await ex
      .insertInto('organizations')
      .values({ name, created_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }

  async insertBinding(ex: Executor, row: BindingRow): Promise<void> {
    await ex.insertInto('role_bindings').values(row).execute();
  }

  /** Bindings of a principal that apply to a repository: the whole organization, or exactly it. */
  bindingsFor(
    ex: Executor,
    principal: string,
    organization: string,
    repository: string,
  ): Promise<BindingRow[]> {
    return ex
      .selectFrom('role_bindings')
      .selectAll()
      .where('principal', '=', principal)
      .where('organization', '=', organization)
      .where((eb) => eb.or([eb('repository', '=', ''), eb('repository', '=', repository)]))
      .execute();
  }

  listBindings(ex: Executor, organization: string): Promise<BindingRow[]> {
    return ex
      .selectFrom('role_bindings')
      .selectAll()
      .where('organization', '=', organization)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  findBinding(ex: Executor, id: string): Promise<BindingRow | undefined> {
    return ex.selectFrom('role_bindings').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async deleteBinding(ex: Executor, id: string): Promise<boolean> {
    const result = await ex.deleteFrom('role_bindings').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  listPublic(ex: Executor): Promise<{ name: string; created_at: number }[]> {
    return ex.selectFrom('public_repositories').selectAll().orderBy('name').execute();
  }

  /** Organization-wide bindings of a principal (repository-level ones do not count here). */
  organizationBindingsFor(ex: Executor, principal: string, organization: string): Promise<BindingRow[]> {
    return ex
      .selectFrom('role_bindings')
      .selectAll()
      .where('principal', '=', principal)
      .where('organization', '=', organization)
      .where('repository', '=', '')
      .execute();
  }

  // --- public repositories ---

  async isPublic(ex: Executor, repository: string): Promise<boolean> {
    const row = await ex
      .selectFrom('public_repositories')
      .select('name')
      .where('name', '=', repository)
      .executeTakeFirst();
    return row !== undefined;
  }

  async setPublic(ex: Executor, repository: string, isPublic: boolean, now: number): Promise<void> {
    if (isPublic) {
      await ex
        .insertInto('public_repositories')
        .values({ name: repository, created_at: now })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
    } else {
      await ex.deleteFrom('public_repositories').where('name', '=', repository).execute();
    }
  }

  // --- revocation ---

  async revokeToken(ex: Executor, jti: string, expiresAt: number): Promise<void> {
    await ex
      .insertInto('revoked_tokens')
      .values({ jti, expires_at: expiresAt })
      .onConflict((oc) => oc.column('jti').doNothing())
      .execute();
    this.#notify();
  }

  async isRevoked(ex: Executor, jti: string): Promise<boolean> {
    const row = await ex.selectFrom('revoked_tokens').select('jti').where('jti', '=', jti).executeTakeFirst();
    return row !== undefined;
  }

  async pruneRevoked(ex: Executor, now: number): Promise<number> {
    const result = await ex.deleteFrom('revoked_tokens').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
