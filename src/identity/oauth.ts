// Palisade's own OAuth grants for people's command-line tools:
// - the Device Authorization Grant (RFC 8628): the CLI shows a code, the person approves it in a
//   signed-in browser session, the CLI's polling then receives tokens (once);
// - refresh tokens that rotate on every use, die after 12 h without use (at most) and with their
//   family (absolute limit, sign-out everywhere, or a replayed token, which revokes the family).
// Access tokens carry the original sign-in (amr, acr, auth_time, upstream) of the approval.
import { randomInt, randomUUID } from 'node:crypto';
import { actorForUser, type AuditRecorder } from '../audit/audit-log.js';
import { hashSecret, newSecret } from '../lib/secrets.js';
import { OAuthError } from './errors.js';
import type { OAuthStore } from './oauth-store.js';
import type { IdentityStore } from './store.js';
import type { Authentication, TokenService } from './tokens.js';

export const DEVICE_CLIENTS = ['palisade-cli', 'docker-credential-palisade'] as const;
const DEVICE_CODE_TTL_MS = 10 * 60_000;
const POLL_INTERVAL_S = 5;
/** RFC 8628 §6.1: a short code from a reduced alphabet (no vowels, no look-alikes), ~34 bits. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const GRANTABLE_SCOPES = ['registry', 'api', 'admin'];

export interface OAuthSettings {
  refreshIdleMs: number;
  refreshAbsoluteMs: number;
  issuer: () => string;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

export class OAuthService {
  constructor(
    private readonly store: OAuthStore,
    private readonly identity: IdentityStore,
    private readonly tokens: TokenService,
    private readonly audit: AuditRecorder,
    readonly settings: OAuthSettings,
  ) {}

  async startDeviceAuthorization(
    clientId: string | undefined,
    scope: string | undefined,
    now = Date.now(),
  ): Promise<DeviceAuthorization> {
    checkClient(clientId);
    const scopes = parseScope(scope);
    const deviceCode = newSecret();
    const userCode = Array.from(
      { length: 8 },
      () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)],
    ).join('');
    await this.store.transaction(async (trx) => {
      await this.store.insertDeviceGrant(trx, {
        device_code_hash: hashSecret(deviceCode),
        user_code_hash: hashSecret(userCode),
        client_id: clientId!,
        scope: scopes.join(' '),
        status: 'pending',
        user_id: null,
        authentication: null,
        interval_seconds: POLL_INTERVAL_S,
        last_polled_at: null,
        created_at: now,
        expires_at: now + DEVICE_CODE_TTL_MS,
      });
      await this.audit.record(trx, {
        type: 'dev.palisade.auth.device.started.v1',
        subject: `client:${clientId!}`,
        body: {
          client_id: clientId,
          scope: scopes.join(' '),
          expires_at: new Date(now + DEVICE_CODE_TTL_MS).toISOString(),
        },
      });
    });
    const pretty = `${userCode.slice(0, 4)}-${userCode.slice(4)}`;
    const verification = `${this.settings.issuer()}/device`;
    return {
      device_code: deviceCode,
      user_code: pretty,
      verification_uri: verification,
      verification_uri_complete: `${verification}?user_code=${pretty}`,
      expires_in: DEVICE_CODE_TTL_MS / 1000,
      interval: POLL_INTERVAL_S,
    };
  }

  /** The pending request behind a user code, for the approval page; undefined if none is pending. */
  async pendingDevice(
    userCode: string,
    now = Date.now(),
  ): Promise<{ clientId: string; scope: string; expiresAt: number } | undefined> {
    const normalized = normalizeUserCode(userCode);
    if (!normalized) return undefined;
    const grant = await this.store.deviceGrantByUserCode(this.store.db, hashSecret(normalized));
    if (!grant || grant.status !== 'pending' || grant.expires_at <= now) return undefined;
    return { clientId: grant.client_id, scope: grant.scope, expiresAt: grant.expires_at };
  }

  /** The signed-in person approves or denies; false when the code is unknown, used or expired. */
  async decideDevice(
    userCode: string,
    userId: string,
    authentication: Authentication,
    approve: boolean,
    now = Date.now(),
  ): Promise<boolean> {
    const normalized = normalizeUserCode(userCode);
    if (!normalized) return false;
    return this.store.transaction(async (trx) => {
      const decided = await this.store.decideDeviceGrant(
        trx,
        hashSecret(normalized),
        { status: approve ? 'approved' : 'denied', userId, authentication: JSON.stringify(authentication) },
        now,
      );
      if (decided) {
        await this.audit.record(trx, {
          type: `dev.palisade.auth.device.${approve ? 'approved' : 'denied'}.v1`,
          subject: `user:${userId}`,
          body: { user_id: userId },
        });
      }
      return decided;
    });
  }

  /** RFC 8628 §3.4–3.5: the device polls with its code. */
  async pollDevice(
    deviceCode: string | undefined,
    clientId: string | undefined,
    now = Date.now(),
  ): Promise<TokenResponse> {
    checkClient(clientId);
    if (!deviceCode) throw new OAuthError('invalid_request', 'device_code is required');
    const hash = hashSecret(deviceCode);
    const grant = await this.store.deviceGrantByDeviceCode(this.store.db, hash);
    if (!grant || grant.client_id !== clientId) throw new OAuthError('invalid_grant', 'unknown device code');
    if (grant.expires_at <= now)
      throw new OAuthError('expired_token', 'the device code expired; run palisade auth login again');
    if (grant.status === 'denied')
      throw new OAuthError('access_denied', 'the sign-in request was denied in the browser');
    if (grant.status === 'issued') throw new OAuthError('invalid_grant', 'this device code was already used');
    if (grant.status === 'pending') {
      const tooSoon =
        grant.last_polled_at !== null && now - grant.last_polled_at < grant.interval_seconds * 1000;
      const interval = tooSoon ? grant.interval_seconds + 5 : grant.interval_seconds;
      await this.store.recordPoll(this.store.db, hash, now, interval);
      if (tooSoon) throw new OAuthError('slow_down', `polling too fast; wait ${interval} s between requests`);
      throw new OAuthError('authorization_pending', 'waiting for the code to be approved in the browser');
    }
    if (!(await this.store.markIssued(this.store.db, hash)))
      throw new OAuthError('invalid_grant', 'this device code was already used');
    const authentication = JSON.parse(grant.authentication ?? '{}') as Authentication;
    return this.#issue(
      grant.user_id!,
      grant.client_id,
      grant.scope.split(' '),
      authentication,
      randomUUID(),
      now,
      now + this.settings.refreshAbsoluteMs,
    );
  }

  /** Rotation: the presented token is used up and a new one issued in its family. */
  async refresh(
    refreshToken: string | undefined,
    clientId: string | undefined,
    now = Date.now(),
  ): Promise<TokenResponse> {
    checkClient(clientId);
    if (!refreshToken) throw new OAuthError('invalid_request', 'refresh_token is required');
    const hash = hashSecret(refreshToken);
    const row = await this.store.refreshToken(this.store.db, hash);
    const expired = () =>
      new OAuthError(
        'invalid_grant',
        'the refresh token is not valid (expired, revoked or unknown); sign in again with palisade auth login',
      );
    if (!row || row.client_id !== clientId || row.revoked_at !== null) throw expired();
    if (row.used_at !== null) {
      // Someone presents a token that was already exchanged: assume it was stolen, end the family.
      await this.store.revokeFamily(this.store.db, row.family_id, now);
      throw expired();
    }
    if (row.idle_expires_at <= now || row.family_expires_at <= now) throw expired();
    if (!(await this.store.useRefreshToken(this.store.db, hash, now))) {
      await this.store.revokeFamily(this.store.db, row.family_id, now);
      throw expired();
    }
    return this.#issue(
      row.user_id,
      row.client_id,
      row.scope.split(' '),
      JSON.parse(row.authentication) as Authentication,
      row.family_id,
      now,
      row.family_expires_at,
    );
  }

  /** RFC 7009: revokes a refresh token (its family) or an access token; unknown tokens are fine. */
  async revoke(token: string | undefined, now = Date.now()): Promise<void> {
    if (!token || token.length > 8192) return;
    const row = await this.store.refreshToken(this.store.db, hashSecret(token));
    if (row) {
      await this.store.transaction(async (trx) => {
        await this.store.revokeFamily(trx, row.family_id, now);
        await this.audit.record(trx, {
          type: 'dev.palisade.auth.token.revoked.v1',
          subject: `user:${row.user_id}`,
          body: { kind: 'refresh', family: row.family_id, client_id: row.client_id },
        });
      });
      return;
    }
    let claims;
    try {
      const verified = await this.tokens.verify(token, ['access']);
      if (verified.kind !== 'access') return;
      claims = verified.claims;
    } catch {
      return; // An invalid token needs no revoking (RFC 7009 §2.2).
    }
    await this.tokens.revoke(claims);
    await this.audit.recordAlone({
      type: 'dev.palisade.auth.token.revoked.v1',
      subject: claims.sub,
      body: { kind: 'access', jti: claims.jti },
    });
  }

  /** Ends every refresh token of the user and every access token issued to them until now. */
  revokeAllFor(userId: string, now = Date.now()): Promise<number> {
    return this.store.transaction(async (trx) => {
      const count = await this.store.revokeRefreshTokensOf(trx, userId, now);
      await this.identity.invalidateTokensOf(trx, userId, now);
      await this.audit.record(trx, {
        type: 'dev.palisade.auth.tokens.revoked.v1',
        subject: `user:${userId}`,
        body: {
          user_id: userId,
          refresh_tokens: count,
          access_tokens_issued_before: new Date(now).toISOString(),
        },
      });
      return count;
    });
  }

  async #issue(
    userId: string,
    clientId: string,
    requested: string[],
    authentication: Authentication,
    familyId: string,
    now: number,
    familyExpiresAt: number,
  ): Promise<TokenResponse> {
    const user = await this.identity.findUser(this.identity.db, userId);
    if (!user || user.disabled_at !== null)
      throw new OAuthError('invalid_grant', 'the account is disabled or gone');
    // "admin" is granted only to administrators, re-checked at every issuance.
    const scope = requested.filter((s) => s !== 'admin' || user.is_admin === 1);
    const access = await this.tokens.mintAccessToken({
      subject: `user:${userId}`,
      scope,
      authentication,
      clientId,
    });
    const refreshToken = newSecret();
    await this.store.transaction(async (trx) => {
      await this.store.insertRefreshToken(trx, {
        token_hash: hashSecret(refreshToken),
        family_id: familyId,
        user_id: userId,
        client_id: clientId,
        scope: requested.join(' '),
        authentication: JSON.stringify(authentication),
        created_at: now,
        idle_expires_at: Math.min(now + this.settings.refreshIdleMs, familyExpiresAt),
        family_expires_at: familyExpiresAt,
        used_at: null,
        revoked_at: null,
      });
      await this.audit.record(trx, {
        type: 'dev.palisade.auth.token.issued.v1',
        subject: `user:${userId}`,
        actor: actorForUser(userId, authentication),
        body: {
          kind: 'access',
          jti: access.jti,
          client_id: clientId,
          scope: scope.join(' '),
          family: familyId,
          expires_at: new Date(access.expiresAt * 1000).toISOString(),
        },
      });
    });
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: refreshToken,
      scope: scope.join(' '),
    };
  }
}

function checkClient(clientId: string | undefined): void {
  if (!clientId || !(DEVICE_CLIENTS as readonly string[]).includes(clientId)) {
    throw new OAuthError(
      'invalid_client',
      `unknown client_id; this server knows ${DEVICE_CLIENTS.join(', ')}`,
    );
  }
}

function parseScope(scope: string | undefined): string[] {
  const requested = (scope ?? 'registry api').split(' ').filter(Boolean);
  const unknown = requested.filter((s) => !GRANTABLE_SCOPES.includes(s));
  if (unknown.length > 0 || requested.length === 0) {
    throw new OAuthError(
      'invalid_scope',
      `unknown scope ${unknown.join(' ') || '(empty)'}; use any of ${GRANTABLE_SCOPES.join(', ')}`,
    );
  }
  return [...new Set(requested)];
}

/** "bcdf-ghjk", "BCDF GHJK" → "BCDFGHJK"; undefined if it cannot be a user code. */
export function normalizeUserCode(input: string): string | undefined {
  const letters = input.toUpperCase().replace(/[^A-Z]/g, '');
  if (letters.length !== 8 || [...letters].some((c) => !USER_CODE_ALPHABET.includes(c))) return undefined;
  return letters;
}
