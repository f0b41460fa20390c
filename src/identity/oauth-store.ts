// SQL for OAuth grants: device authorization requests and refresh tokens (hashes only). State
// transitions are compare-and-set updates, so two pollers or two refreshes cannot both win.
import type { Kysely, Transaction } from 'kysely';
import type { Database, DeviceGrantsTable, RefreshTokensTable } from '../db/schema.js';

export type Executor = Kysely<Database> | Transaction<Database>;

export class OAuthStore {
  constructor(readonly db: Kysely<Database>) {}

  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  async insertDeviceGrant(ex: Executor, row: DeviceGrantsTable): Promise<void> {
    await ex.insertInto('device_grants').values(row).execute();
  }

  deviceGrantByDeviceCode(ex: Executor, hash: string): Promise<DeviceGrantsTable | undefined> {
    return ex.selectFrom('device_grants').selectAll().where('device_code_hash', '=', hash).executeTakeFirst();
  }

  deviceGrantByUserCode(ex: Executor, hash: string): Promise<DeviceGrantsTable | undefined> {
    return ex.selectFrom('device_grants').selectAll().where('user_code_hash', '=', hash).executeTakeFirst();
  }

  async recordPoll(ex: Executor, hash: string, now: number, intervalSeconds: number): Promise<void> {
    await ex
      .updateTable('device_grants')
      .set({ last_polled_at: now, interval_seconds: intervalSeconds })
      .where('device_code_hash', '=', hash)
      .execute();
  }

  /** pending → approved/denied, once, and only before it expires. */
  async decideDeviceGrant(
    ex: Executor,
    userCodeHash: string,
    decision: { status: 'approved' | 'denied'; userId: string; authentication: string },
    now: number,
  ): Promise<boolean> {
    const result = await ex
      .updateTable('device_grants')
      .set({ status: decision.status, user_id: decision.userId, authentication: decision.authentication })
      .where('user_code_hash', '=', userCodeHash)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** approved → issued, once: a device code yields tokens a single time. */
  async markIssued(ex: Executor, deviceCodeHash: string): Promise<boolean> {
    const result = await ex
      .updateTable('device_grants')
      .set({ status: 'issued' })
      .where('device_code_hash', '=', deviceCodeHash)
      .where('status', '=', 'approved')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async pruneDeviceGrants(ex: Executor, now: number): Promise<number> {
    const result = await ex
      .deleteFrom('device_grants')
      .where('expires_at', '<=', now - 3600_000)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async insertRefreshToken(ex: Executor, row: RefreshTokensTable): Promise<void> {
    await ex.insertInto('refresh_tokens').values(row).execute();
  }

  refreshToken(ex: Executor, hash: string): Promise<RefreshTokensTable | undefined> {
    return ex.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  }

  /** Marks a refresh token used (rotation); false when someone else used it first. */
  async useRefreshToken(ex: Executor, hash: string, now: number): Promise<boolean> {
    const result = await ex
      .updateTable('refresh_tokens')
      .set({ used_at: now })
      .where('token_hash', '=', hash)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async revokeFamily(ex: Executor, familyId: string, now: number): Promise<void> {
    await ex
      .updateTable('refresh_tokens')
      .set({ revoked_at: now })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  async revokeRefreshTokensOf(ex: Executor, userId: string, now: number): Promise<number> {
    const result = await ex
      .updateTable('refresh_tokens')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async pruneRefreshTokens(ex: Executor, now: number): Promise<number> {
    const result = await ex
      .deleteFrom('refresh_tokens')
      .where((eb) => eb.or([eb('idle_expires_at', '<=', now), eb('family_expires_at', '<=', now)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
