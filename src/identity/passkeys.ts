// Passkeys: one-time enrollment links, WebAuthn registration and sign-in ceremonies (user
// verification required, discoverable credentials), several passkeys per user, counters and
// backup flags checked. Challenges live in single-use ceremony rows so any replica can finish a
// ceremony another one started, and a replayed response finds nothing to finish.
import { randomUUID } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { AuditRecorder } from '../audit/audit-log.js';
import { hashSecret, newSecret } from '../lib/secrets.js';
import { PeopleError } from './people-errors.js';
import type { PeopleStore } from './people-store.js';
import type { IdentityStore } from './store.js';
import type { Authentication } from './tokens.js';

export const ENROLLMENT_TTL_MS = 15 * 60_000;
const CEREMONY_TTL_MS = 5 * 60_000;

export interface RelyingParty {
  /** The public origin (https://registry.example.com); WebAuthn binds credentials to it. */
  origin: () => string;
}

export interface EnrollmentLink {
  token: string;
  url: string;
  expiresAt: number;
}

export interface SignedIn {
  userId: string;
  authentication: Authentication;
}

/** Failed sign-ins per account before it is held back, and for how long (per replica, in memory). */
const ACCOUNT_FAILURES = 10;
const ACCOUNT_WINDOW_MS = 15 * 60_000;

export class PasskeyService {
  readonly #failures = new Map<string, number[]>();

  constructor(
    private readonly people: PeopleStore,
    private readonly identity: IdentityStore,
    private readonly rp: RelyingParty,
    private readonly audit: AuditRecorder,
  ) {}

  get #origin(): string {
    return this.rp.origin();
  }

  get #rpId(): string {
    return new URL(this.rp.origin()).hostname;
  }

  /**
   * A one-time link: the secret travels in the URL fragment, which browsers never send to a
   * server, so it stays out of access logs and Referer headers; only its hash is stored.
   */
  async createEnrollmentLink(options: {
    userId?: string;
    makeAdmin: boolean;
    now?: number;
  }): Promise<EnrollmentLink> {
    const now = options.now ?? Date.now();
    const token = newSecret();
    await this.people.transaction(async (trx) => {
      await this.people.insertEnrollment(trx, {
        token_hash: hashSecret(token),
        user_id: options.userId ?? null,
        make_admin: options.makeAdmin ? 1 : 0,
        created_at: now,
        expires_at: now + ENROLLMENT_TTL_MS,
        used_at: null,
      });
      // The link itself is a credential: the event says that one exists, never what it is.
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.enrollment.created.v1',
        subject: options.userId ? `user:${options.userId}` : 'user:new',
        body: {
          user_id: options.userId ?? null,
          make_admin: options.makeAdmin,
          expires_at: new Date(now + ENROLLMENT_TTL_MS).toISOString(),
        },
      });
    });
    return { token, url: `${this.#origin}/enroll#${token}`, expiresAt: now + ENROLLMENT_TTL_MS };
  }

  /** At start-up: a link for the first administrator, when there is none yet. */
  async bootstrapLink(): Promise<EnrollmentLink | undefined> {
    if ((await this.identity.countAdmins(this.identity.db)) > 0) return undefined;
    return this.createEnrollmentLink({ makeAdmin: true });
  }

  async #usableEnrollment(token: string, now: number) {
    const row = await this.people.findEnrollment(this.people.db, hashSecret(token));
    if (!row || row.used_at !== null || row.expires_at <= now) {
      throw new PeopleError(
        'PALISADE_ENROLLMENT_INVALID',
        'this enrollment link is unknown, already used or expired; ask an administrator for a new one (palisade admin enroll)',
      );
    }
    return row;
  }

  async enrollmentOptions(
    token: string,
    displayName: string,
    now = Date.now(),
  ): Promise<{ ceremony: string; options: PublicKeyCredentialCreationOptionsJSON }> {
    const link = await this.#usableEnrollment(token, now);
    const userId = link.user_id ?? randomUUID();
    const existing = link.user_id ? await this.people.passkeysOf(this.people.db, link.user_id) : [];
    return this.#startRegistration('enroll', userId, displayName, existing, now, hashSecret(token));
  }

  async finishEnrollment(
    ceremonyId: string,
    response: RegistrationResponseJSON,
    displayName: string,
    now = Date.now(),
  ): Promise<SignedIn> {
    const ceremony = await this.#takeCeremony(ceremonyId, 'enroll', now);
    const verified = await this.#verifyRegistration(ceremony.challenge, response);
    const userId = ceremony.user_id!;
    await this.people.transaction(async (trx) => {
      const link = await this.people.findEnrollment(trx, ceremony.enrollment_hash!);
      if (!link || !(await this.people.consumeEnrollment(trx, ceremony.enrollment_hash!, now))) {
        throw new PeopleError(
          'PALISADE_ENROLLMENT_INVALID',
          'this enrollment link was used or expired while you were registering; ask for a new one',
        );
      }
      if (link.user_id === null) {
        await this.identity.insertUser(trx, {
          id: userId,
          display_name: displayName,
          email: null,
          is_admin: link.make_admin,
          created_at: now,
          disabled_at: null,
        });
      }
      await this.people.insertPasskey(trx, {
        ...verified,
        user_id: userId,
        name: 'first passkey',
        created_at: now,
        last_used_at: now,
      });
      if (link.user_id === null) {
        await this.audit.record(trx, {
          type: 'dev.palisade.iam.user.created.v1',
          subject: `user:${userId}`,
          body: {
            after: { id: userId, display_name: displayName, admin: link.make_admin === 1, via: 'enrollment' },
          },
        });
      }
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.passkey.added.v1',
        subject: `user:${userId}`,
        body: {
          passkey_id: verified.id,
          device_type: verified.device_type,
          backed_up: verified.backed_up === 1,
        },
      });
    });
    return { userId, authentication: passkeyAuthentication(verified.device_type, now) };
  }

  async registrationOptions(
    userId: string,
    now = Date.now(),
  ): Promise<{ ceremony: string; options: PublicKeyCredentialCreationOptionsJSON }> {
    const user = await this.identity.findUser(this.identity.db, userId);
    if (!user) throw new PeopleError('PALISADE_SESSION_INVALID', 'sign in again');
    const existing = await this.people.passkeysOf(this.people.db, userId);
    return this.#startRegistration('register', userId, user.display_name, existing, now);
  }

  async finishRegistration(
    userId: string,
    ceremonyId: string,
    response: RegistrationResponseJSON,
    name: string,
    now = Date.now(),
  ): Promise<void> {
    const ceremony = await this.#takeCeremony(ceremonyId, 'register', now);
    if (ceremony.user_id !== userId)
      throw new PeopleError('PALISADE_CEREMONY_INVALID', 'this registration was started by another account');
    const verified = await this.#verifyRegistration(ceremony.challenge, response);
    await this.people.transaction(async (trx) => {
      await this.people.insertPasskey(trx, {
        ...verified,
        user_id: userId,
        name,
        created_at: now,
        last_used_at: null,
      });
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.passkey.added.v1',
        subject: `user:${userId}`,
        body: {
          passkey_id: verified.id,
          name,
          device_type: verified.device_type,
          backed_up: verified.backed_up === 1,
        },
      });
    });
  }

  async authenticationOptions(
    now = Date.now(),
  ): Promise<{ ceremony: string; options: PublicKeyCredentialRequestOptionsJSON }> {
    const options = await generateAuthenticationOptions({
      rpID: this.#rpId,
      userVerification: 'required',
      timeout: CEREMONY_TTL_MS,
    });
    const ceremony = await this.#saveCeremony('authenticate', options.challenge, null, null, now);
    return { ceremony, options };
  }

  async finishAuthentication(
    ceremonyId: string,
    response: AuthenticationResponseJSON,
    now = Date.now(),
  ): Promise<SignedIn> {
    const ceremony = await this.#takeCeremony(ceremonyId, 'authenticate', now);
    const refused = () =>
      new PeopleError(
        'PALISADE_SIGNIN_FAILED',
        'sign-in failed: this passkey is not registered here or could not be verified',
      );
    const passkey =
      typeof response.id === 'string'
        ? await this.people.findPasskey(this.people.db, response.id)
        : undefined;
    if (!passkey) throw refused();
    this.#checkAccountLimit(passkey.user_id, now);
    try {
      return await this.#verifyAssertion(ceremony.challenge, response, passkey, now, refused);
    } catch (error) {
      this.#recordFailure(passkey.user_id, now);
      await this.audit.recordAlone({
        type: 'dev.palisade.auth.signin.failed.v1',
        subject: `user:${passkey.user_id}`,
        outcome: 'failure',
        body: {
          method: 'passkey',
          passkey_id: passkey.id,
          reason: error instanceof Error ? error.message : 'refused',
        },
      });
      throw error;
    }
  }

  #checkAccountLimit(userId: string, now: number): void {
    const recent = (this.#failures.get(userId) ?? []).filter((t) => now - t < ACCOUNT_WINDOW_MS);
    if (recent.length >= ACCOUNT_FAILURES) {
      const wait = Math.ceil((recent[0]! + ACCOUNT_WINDOW_MS - now) / 60_000);
      throw new PeopleError(
        'PALISADE_RATE_LIMITED',
        `too many failed sign-ins for this account; try again in ${wait} min`,
      );
    }
  }

  #recordFailure(userId: string, now: number): void {
    const recent = (this.#failures.get(userId) ?? []).filter((t) => now - t < ACCOUNT_WINDOW_MS);
    recent.push(now);
    this.#failures.set(userId, recent);
    if (this.#failures.size > 100_000) this.#failures.delete(this.#failures.keys().next().value!);
  }

  async #verifyAssertion(
    challenge: string,
    response: AuthenticationResponseJSON,
    passkey: NonNullable<Awaited<ReturnType<PeopleStore['findPasskey']>>>,
    now: number,
    refused: () => PeopleError,
  ): Promise<SignedIn> {
    let result;
    try {
      result = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.#origin,
        expectedRPID: this.#rpId,
        requireUserVerification: true,
        credential: {
          id: passkey.id,
          publicKey: Buffer.from(passkey.public_key, 'base64url'),
          counter: passkey.counter,
          transports: JSON.parse(passkey.transports) as AuthenticatorTransport[],
        },
      });
    } catch (error) {
      // The library refuses a counter that did not move forward itself; say what that means.
      if (error instanceof Error && /counter/i.test(error.message)) throw clonedKey();
      throw refused();
    }
    if (!result.verified || !result.authenticationInfo.userVerified) throw refused();
    const info = result.authenticationInfo;
    // A counter that did not move forward (when the authenticator keeps one) means a cloned key.
    if ((info.newCounter !== 0 || passkey.counter !== 0) && info.newCounter <= passkey.counter) {
      throw clonedKey();
    }
    const user = await this.identity.findUser(this.identity.db, passkey.user_id);
    if (!user || user.disabled_at !== null) throw refused();
    const recorded = await this.people.recordPasskeyUse(this.people.db, passkey.id, passkey.counter, {
      counter: info.newCounter,
      backedUp: info.credentialBackedUp,
      now,
    });
    if (!recorded) throw refused();
    return { userId: user.id, authentication: passkeyAuthentication(info.credentialDeviceType, now) };
  }

  async list(userId: string) {
    const rows = await this.people.passkeysOf(this.people.db, userId);
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      deviceType: r.device_type,
      backedUp: r.backed_up === 1,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
    }));
  }

  /** Removes one of the user's passkeys; the last one stays (it is the only way back in). */
  async remove(userId: string, passkeyId: string): Promise<void> {
    await this.people.transaction(async (trx) => {
      const mine = await this.people.passkeysOf(trx, userId);
      if (!mine.some((p) => p.id === passkeyId))
        throw new PeopleError('PALISADE_NOT_FOUND', 'no such passkey on your account');
      if (mine.length === 1) {
        throw new PeopleError(
          'PALISADE_LAST_PASSKEY',
          'this is your only passkey: add another one before removing it, or you could not sign in again',
        );
      }
      await this.people.deletePasskey(trx, userId, passkeyId);
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.passkey.removed.v1',
        subject: `user:${userId}`,
        body: { passkey_id: passkeyId },
      });
    });
  }

  async #startRegistration(
    kind: 'enroll' | 'register',
    userId: string,
    displayName: string,
    existing: { id: string; transports: string }[],
    now: number,
    enrollmentHash?: string,
  ) {
    const options = await generateRegistrationOptions({
      rpName: 'Palisade',
      rpID: this.#rpId,
      userName: displayName,
      userDisplayName: displayName,
      userID: new TextEncoder().encode(userId),
      attestationType: 'none',
      timeout: CEREMONY_TTL_MS,
      excludeCredentials: existing.map((p) => ({
        id: p.id,
        transports: JSON.parse(p.transports) as AuthenticatorTransport[],
      })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      supportedAlgorithmIDs: [-7, -8, -257],
    });
    const ceremony = await this.#saveCeremony(kind, options.challenge, userId, enrollmentHash ?? null, now);
    return { ceremony, options };
  }

  async #saveCeremony(
    kind: string,
    challenge: string,
    userId: string | null,
    enrollmentHash: string | null,
    now: number,
  ): Promise<string> {
    const id = newSecret();
    await this.people.pruneCeremonies(this.people.db, now);
    await this.people.insertCeremony(this.people.db, {
      id_hash: hashSecret(id),
      kind,
      challenge,
      user_id: userId,
      enrollment_hash: enrollmentHash,
      created_at: now,
      expires_at: now + CEREMONY_TTL_MS,
    });
    return id;
  }

  async #takeCeremony(id: string, kind: string, now: number) {
    const row = await this.people.takeCeremony(this.people.db, hashSecret(id));
    if (!row || row.kind !== kind || row.expires_at <= now) {
      throw new PeopleError(
        'PALISADE_CEREMONY_INVALID',
        'this passkey prompt expired or was already answered; start again',
      );
    }
    return row;
  }

  async #verifyRegistration(challenge: string, response: RegistrationResponseJSON) {
    let result;
    try {
      result = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.#origin,
        expectedRPID: this.#rpId,
        requireUserVerification: true,
      });
    } catch (error) {
      throw new PeopleError(
        'PALISADE_PASSKEY_INVALID',
        `the passkey could not be registered: ${error instanceof Error ? error.message : 'verification failed'}`,
      );
    }
    if (!result.verified)
      throw new PeopleError('PALISADE_PASSKEY_INVALID', 'the passkey could not be registered');
    const info = result.registrationInfo;
    return {
      id: info.credential.id,
      public_key: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: JSON.stringify(info.credential.transports ?? []),
      device_type: info.credentialDeviceType,
      backed_up: info.credentialBackedUp ? 1 : 0,
    };
  }
}

function clonedKey(): PeopleError {
  return new PeopleError(
    'PALISADE_SIGNIN_FAILED',
    'sign-in refused: this passkey’s signature counter did not move forward, which suggests a cloned authenticator; remove it and register a new one',
  );
}

/** RFC 8176: a passkey with user verification is phishing-resistant multi-factor authentication. */
function passkeyAuthentication(deviceType: string, now: number): Authentication {
  return {
    amr: [deviceType === 'singleDevice' ? 'hwk' : 'swk', 'user', 'mfa'],
    auth_time: Math.floor(now / 1000),
  };
}
