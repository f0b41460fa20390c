// Web sessions: an opaque 256-bit id in an HttpOnly, SameSite=Lax cookie (Secure and __Host-
// prefixed when served over https), stored hashed, with an idle and an absolute time-out, and
// revocable one by one or all at once. The CSRF token for a session is derived from its id, so a
// page can embed it and another site, which cannot read the cookie, cannot compute it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { actorForUser, type AuditRecorder } from '../audit/audit-log.js';
import { hashSecret, newSecret } from '../lib/secrets.js';
import type { PeopleStore } from './people-store.js';
import type { Authentication } from './tokens.js';

export interface SessionSettings {
  idleMs: number;
  absoluteMs: number;
  /** True when the public URL is https: cookies are then Secure with the __Host- prefix. */
  secure: () => boolean;
}

export interface Session {
  userId: string;
  authentication: Authentication;
  createdAt: number;
  expiresAt: number;
}

const TOUCH_EVERY_MS = 60_000;

export class SessionService {
  constructor(
    private readonly people: PeopleStore,
    private readonly audit: AuditRecorder,
    readonly settings: SessionSettings,
  ) {}

  get cookieName(): string {
    return this.settings.secure() ? '__Host-palisade-session' : 'palisade-session';
  }

  cookieOptions(maxAgeSeconds?: number) {
    return {
      httpOnly: true,
      secure: this.settings.secure(),
      sameSite: 'lax' as const,
      path: '/',
      ...(maxAgeSeconds === undefined ? {} : { maxAge: maxAgeSeconds }),
    };
  }

  async create(userId: string, authentication: Authentication, now = Date.now()): Promise<string> {
    const id = newSecret();
    await this.people.pruneSessions(this.people.db, now, this.settings.idleMs);
    await this.people.transaction(async (trx) => {
      await this.people.insertSession(trx, {
        id_hash: hashSecret(id),
        user_id: userId,
        created_at: now,
        last_seen_at: now,
        expires_at: now + this.settings.absoluteMs,
        amr: JSON.stringify(authentication.amr ?? []),
        acr: authentication.acr ?? null,
        auth_time: authentication.auth_time ?? Math.floor(now / 1000),
        upstream_iss: authentication.upstream?.iss ?? null,
        upstream_sub: authentication.upstream?.sub ?? null,
      });
      // A successful sign-in: the actor is the person who just proved who they are.
      await this.audit.record(trx, {
        type: 'dev.palisade.auth.session.created.v1',
        subject: `user:${userId}`,
        actor: actorForUser(userId, authentication),
        body: {
          user_id: userId,
          amr: authentication.amr ?? [],
          acr: authentication.acr ?? null,
          upstream: authentication.upstream ?? null,
        },
      });
    });
    return id;
  }

  /** The live session behind a cookie value, or undefined (unknown, idle too long, or too old). */
  async resolve(id: string | undefined, now = Date.now()): Promise<Session | undefined> {
    if (!id || id.length > 100) return undefined;
    const hash = hashSecret(id);
    const row = await this.people.findSession(this.people.db, hash);
    if (!row) return undefined;
    if (row.expires_at <= now || now - row.last_seen_at >= this.settings.idleMs) {
      await this.people.deleteSession(this.people.db, hash);
      return undefined;
    }
    if (now - row.last_seen_at >= TOUCH_EVERY_MS) await this.people.touchSession(this.people.db, hash, now);
    const authentication: Authentication = {
      amr: JSON.parse(row.amr) as string[],
      auth_time: row.auth_time,
      ...(row.acr ? { acr: row.acr } : {}),
      ...(row.upstream_iss && row.upstream_sub
        ? { upstream: { iss: row.upstream_iss, sub: row.upstream_sub } }
        : {}),
    };
    return { userId: row.user_id, authentication, createdAt: row.created_at, expiresAt: row.expires_at };
  }

  csrfToken(id: string): string {
    return createHash('sha256').update('palisade-csrf:').update(id).digest('base64url');
  }

  checkCsrf(id: string, presented: string | undefined): boolean {
    if (!presented) return false;
    const expected = Buffer.from(this.csrfToken(id));
    const given = Buffer.from(presented);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  async revoke(id: string, userId: string): Promise<void> {
    await this.people.transaction(async (trx) => {
      await this.people.deleteSession(trx, hashSecret(id));
      await this.audit.record(trx, {
        type: 'dev.palisade.auth.session.deleted.v1',
        subject: `user:${userId}`,
        body: { user_id: userId },
      });
    });
  }

  async revokeAll(userId: string): Promise<number> {
    return this.people.transaction(async (trx) => {
      const count = await this.people.deleteSessionsOf(trx, userId);
      await this.audit.record(trx, {
        type: 'dev.palisade.auth.sessions.revoked.v1',
        subject: `user:${userId}`,
        body: { user_id: userId, sessions: count },
      });
      return count;
    });
  }
}
