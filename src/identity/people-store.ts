// SQL for people: passkeys, enrollment links, web sessions and WebAuthn ceremonies. Secrets
// (link tokens, session ids, ceremony ids) are stored only as SHA-256 hashes.
import type { Kysely, Transaction } from 'kysely';
import type {
  CeremoniesTable,
  Database,
  EnrollmentTokensTable,
  PasskeysTable,
  WebSessionsTable,
} from '../db/schema.js';

export type Executor = Kysely<Database> | Transaction<Database>;

export class PeopleStore {
  constructor(readonly db: Kysely<Database>) {}

  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  // --- passkeys ---

  async insertPasskey(ex: Executor, row: PasskeysTable): Promise<void> {
    await ex.insertInto('passkeys').values(row).execute();
  }

  findPasskey(ex: Executor, id: string): Promise<PasskeysTable | undefined> {
    return ex.selectFrom('passkeys').selectAll().where('id', '=', id).executeTakeFirst();
  }

  passkeysOf(ex: Executor, userId: string): Promise<PasskeysTable[]> {
    return ex
      .selectFrom('passkeys')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .execute();
  }

  /** Compare-and-set on the counter: a concurrent use of a cloned key cannot both succeed. */
  async recordPasskeyUse(
    ex: Executor,
    id: string,
    expectedCounter: number,
    update: { counter: number; backedUp: boolean; now: number },
  ): Promise<boolean> {
    const result = await ex
      .updateTable('passkeys')
      .set({ counter: update.counter, backed_up: update.backedUp ? 1 : 0, last_used_at: update.now })
      .where('id', '=', id)
      .where('counter', '=', expectedCounter)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deletePasskey(ex: Executor, userId: string, id: string): Promise<boolean> {
    const result = await ex
      .deleteFrom('passkeys')
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  // --- enrollment links ---

  async insertEnrollment(ex: Executor, row: EnrollmentTokensTable): Promise<void> {
    await ex.insertInto('enrollment_tokens').values(row).execute();
  }

  findEnrollment(ex: Executor, hash: string): Promise<EnrollmentTokensTable | undefined> {
    return ex.selectFrom('enrollment_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  }

  /** Marks a link used; false when it was already used or has expired (single use under races). */
  async consumeEnrollment(ex: Executor, hash: string, now: number): Promise<boolean> {
    const result = await ex
      .updateTable('enrollment_tokens')
      .set({ used_at: now })
      .where('token_hash', '=', hash)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async pruneEnrollments(ex: Executor, now: number): Promise<number> {
    const result = await ex
      .deleteFrom('enrollment_tokens')
      .where('expires_at', '<=', now - 86400_000)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // --- sessions ---

  async insertSession(ex: Executor, row: WebSessionsTable): Promise<void> {
    await ex.insertInto('web_sessions').values(row).execute();
  }

  findSession(ex: Executor, hash: string): Promise<WebSessionsTable | undefined> {
    return ex.selectFrom('web_sessions').selectAll().where('id_hash', '=', hash).executeTakeFirst();
  }

  async touchSession(ex: Executor, hash: string, now: number): Promise<void> {
    await ex.updateTable('web_sessions').set({ last_seen_at: now }).where('id_hash', '=', hash).execute();
  }

  async deleteSession(ex: Executor, hash: string): Promise<void> {
    await ex.deleteFrom('web_sessions').where('id_hash', '=', hash).execute();
  }

  async deleteSessionsOf(ex: Executor, userId: string): Promise<number> {
    const result = await ex.deleteFrom('web_sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async pruneSessions(ex: Executor, now: number, idleMs: number): Promise<number> {
    const result = await ex
      .deleteFrom('web_sessions')
      .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', now - idleMs)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // --- ceremonies ---

  async insertCeremony(ex: Executor, row: CeremoniesTable): Promise<void> {
    await ex.insertInto('ceremonies').values(row).execute();
  }

  /** Takes a ceremony out (single use): the row is deleted whether or not it is still valid. */
  async takeCeremony(ex: Executor, hash: string): Promise<CeremoniesTable | undefined> {
    const row = await ex.selectFrom('ceremonies').selectAll().where('id_hash', '=', hash).executeTakeFirst();
    if (!row) return undefined;
    const result = await ex.deleteFrom('ceremonies').where('id_hash', '=', hash).executeTakeFirst();
    return Number(result.numDeletedRows) === 1 ? row : undefined;
  }

  async pruneCeremonies(ex: Executor, now: number): Promise<number> {
    const result = await ex.deleteFrom('ceremonies').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
