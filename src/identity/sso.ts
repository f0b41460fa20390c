// Company SSO as an OpenID Connect relying party (openid-client): authorization code flow with
// PKCE, state and nonce; per identity provider an MFA policy enforced on the ID token's amr/acr;
// optional allowed email domains; users keyed by (issuer, subject) and created on first sign-in
// with the provider's default role. Outbound calls go only to issuers an administrator configured
// (https; plain http only for loopback in development mode), with time-outs.
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import * as oidc from 'openid-client';
import { z } from 'zod';
import { actorForUser, type AuditRecorder } from '../audit/audit-log.js';
import { hashSecret } from '../lib/secrets.js';
import { isRole, ROLES } from './capabilities.js';
import { ORGANIZATION } from './iam.js';
import type { KeyEncryptionKey } from './key-encryption.js';
import { PeopleError } from './people-errors.js';
import type { SignedIn } from './passkeys.js';
import type { SsoStore } from './sso-store.js';
import type { IdentityStore } from './store.js';

const LOGIN_TTL_MS = 10 * 60_000;
const CONFIG_TTL_MS = 3600_000;
const OUTBOUND_TIMEOUT_MS = 10_000;

/** RFC 8176 methods by factor; MFA is "mfa" itself or methods from two different factors. */
const FACTORS: Record<string, 'know' | 'have' | 'are'> = {
  pwd: 'know',
  pin: 'know',
  kba: 'know',
  otp: 'have',
  sms: 'have',
  tel: 'have',
  hwk: 'have',
  swk: 'have',
  sc: 'have',
  pop: 'have',
  fpt: 'are',
  face: 'are',
  iris: 'are',
  retina: 'are',
  vbm: 'are',
};

export function mfaSatisfied(amr: unknown): boolean {
  if (!Array.isArray(amr)) return false;
  const methods = amr.filter((m): m is string => typeof m === 'string');
  if (methods.includes('mfa')) return true;
  return new Set(methods.map((m) => FACTORS[m]).filter(Boolean)).size >= 2;
}

export const newProviderSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes'),
    display_name: z.string().trim().min(1).max(100),
    issuer: z.string().max(2048),
    client_id: z.string().min(1).max(255),
    auth_method: z
      .enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt'])
      .default('client_secret_basic'),
    client_secret: z.string().min(1).max(1000).optional(),
    extra_scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,100}$/))
      .max(20)
      .default([]),
    allowed_email_domains: z
      .array(z.string().regex(/^[a-z0-9.-]{1,253}$/))
      .max(100)
      .default([]),
    acr_values: z.array(z.string().min(1).max(200)).max(10).default([]),
    accepted_acr: z.array(z.string().min(1).max(200)).max(10).default([]),
    require_mfa: z.boolean().default(true),
    default_role: z
      .string()
      .refine(isRole, `one of ${Object.keys(ROLES).join(', ')}`)
      .optional(),
    default_organization: z.string().regex(ORGANIZATION).optional(),
  })
  .strict();

export interface ProviderView {
  id: string;
  display_name: string;
  issuer: string;
  client_id: string;
  auth_method: string;
  /** For private_key_jwt: the public key to register with the identity provider. */
  public_jwk: JWK | null;
  extra_scopes: string[];
  allowed_email_domains: string[];
  acr_values: string[];
  accepted_acr: string[];
  require_mfa: boolean;
  default_role: string | null;
  default_organization: string | null;
}

export interface SsoSettings {
  dev: boolean;
  /** Palisade's own origin: the redirect URI is <origin>/sso/callback. */
  origin: () => string;
}

export class SsoService {
  readonly #configs = new Map<string, { config: oidc.Configuration; at: number }>();

  constructor(
    private readonly store: SsoStore,
    private readonly identity: IdentityStore,
    private readonly kek: KeyEncryptionKey,
    private readonly audit: AuditRecorder,
    private readonly settings: SsoSettings,
  ) {}

  get redirectUri(): string {
    return `${this.settings.origin()}/sso/callback`;
  }

  /** Rule 7: only https issuers (http for loopback in development mode), no tricks in the URL. */
  checkIssuer(issuer: string): URL {
    let url: URL;
    try {
      url = new URL(issuer);
    } catch {
      throw new PeopleError('PALISADE_BAD_REQUEST', 'issuer: not a URL');
    }
    const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback && this.settings.dev)) {
      throw new PeopleError(
        'PALISADE_BAD_REQUEST',
        'issuer: must be https (plain http only for loopback in development mode)',
      );
    }
    if (url.username || url.password || url.search || url.hash) {
      throw new PeopleError('PALISADE_BAD_REQUEST', 'issuer: no credentials, query or fragment allowed');
    }
    return url;
  }

  async createProvider(input: z.infer<typeof newProviderSchema>, now = Date.now()): Promise<ProviderView> {
    this.checkIssuer(input.issuer);
    if ((input.default_role === undefined) !== (input.default_organization === undefined)) {
      throw new PeopleError('PALISADE_BAD_REQUEST', 'default_role and default_organization go together');
    }
    let credential: string;
    let publicJwk: JWK | null = null;
    if (input.auth_method === 'private_key_jwt') {
      const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
      publicJwk = { ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig', kid: `${input.id}-1` };
      credential = JSON.stringify(await exportJWK(privateKey));
    } else {
      if (!input.client_secret)
        throw new PeopleError('PALISADE_BAD_REQUEST', 'client_secret: required for this auth_method');
      credential = input.client_secret;
    }
    if (await this.store.provider(this.store.db, input.id))
      throw new PeopleError('PALISADE_CONFLICT', `identity provider ${input.id} exists already`);
    await this.store.transaction(async (trx) => {
      await this.store.insertProvider(trx, {
        id: input.id,
        display_name: input.display_name,
        issuer: input.issuer,
        client_id: input.client_id,
        auth_method: input.auth_method,
        credential_encrypted: this.kek.encrypt(credential, `palisade-idp:${input.id}`),
        public_jwk: publicJwk ? JSON.stringify(publicJwk) : null,
        extra_scopes: JSON.stringify(input.extra_scopes),
        allowed_email_domains: JSON.stringify(input.allowed_email_domains),
        acr_values: JSON.stringify(input.acr_values),
        accepted_acr: JSON.stringify(input.accepted_acr),
        require_mfa: input.require_mfa ? 1 : 0,
        default_role: input.default_role ?? null,
        default_organization: input.default_organization ?? null,
        created_at: now,
      });
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.idp.created.v1',
        subject: `idp:${input.id}`,
        body: { after: { ...input, client_secret: undefined } },
      });
    });
    return (await this.provider(input.id))!;
  }

  async deleteProvider(id: string): Promise<void> {
    this.#configs.delete(id);
    await this.store.transaction(async (trx) => {
      const before = await this.store.provider(trx, id);
      if (!before || !(await this.store.deleteProvider(trx, id))) {
        throw new PeopleError('PALISADE_NOT_FOUND', `no identity provider ${id}`);
      }
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.idp.deleted.v1',
        subject: `idp:${id}`,
        body: { before: view(before) },
      });
    });
  }

  async providers(): Promise<ProviderView[]> {
    return (await this.store.providers(this.store.db)).map(view);
  }

  async provider(id: string): Promise<ProviderView | undefined> {
    const row = await this.store.provider(this.store.db, id);
    return row && view(row);
  }

  async #configuration(
    id: string,
  ): Promise<{ config: oidc.Configuration; row: NonNullable<Awaited<ReturnType<SsoStore['provider']>>> }> {
    const row = await this.store.provider(this.store.db, id);
    if (!row) throw new PeopleError('PALISADE_NOT_FOUND', `no identity provider ${id}`);
    const cached = this.#configs.get(id);
    if (cached && Date.now() - cached.at < CONFIG_TTL_MS) return { config: cached.config, row };
    const issuer = this.checkIssuer(row.issuer);
    const credential = this.kek.decrypt(row.credential_encrypted, `palisade-idp:${id}`);
    const auth =
      row.auth_method === 'private_key_jwt'
        ? oidc.PrivateKeyJwt({
            key: (await importJWK(JSON.parse(credential) as JWK, 'ES256')) as CryptoKey,
            kid: (JSON.parse(row.public_jwk!) as JWK).kid,
          })
        : row.auth_method === 'client_secret_post'
          ? oidc.ClientSecretPost(credential)
          : oidc.ClientSecretBasic(credential);
    let config: oidc.Configuration;
    try {
      config = await oidc.discovery(issuer, row.client_id, undefined, auth, {
        timeout: OUTBOUND_TIMEOUT_MS / 1000,
        ...(issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
      });
    } catch (error) {
      throw new PeopleError(
        'PALISADE_SSO_UNAVAILABLE',
        `cannot reach the identity provider ${row.display_name}: ${error instanceof Error ? error.message : 'discovery failed'}`,
      );
    }
    this.#configs.set(id, { config, at: Date.now() });
    return { config, row };
  }

  /** Starts a sign-in: returns where to send the browser and the state to bind to it (cookie). */
  async start(
    providerId: string,
    returnTo: string,
    now = Date.now(),
  ): Promise<{ url: string; state: string }> {
    const { config, row } = await this.#configuration(providerId);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    await this.store.insertLogin(this.store.db, {
      state_hash: hashSecret(state),
      provider_id: providerId,
      code_verifier: verifier,
      nonce,
      return_to: returnTo,
      created_at: now,
      expires_at: now + LOGIN_TTL_MS,
    });
    const acrValues = JSON.parse(row.acr_values) as string[];
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: ['openid', 'email', 'profile', ...(JSON.parse(row.extra_scopes) as string[])].join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...(acrValues.length > 0 ? { acr_values: acrValues.join(' ') } : {}),
    });
    return { url: url.href, state };
  }

  /**
   * Finishes a sign-in from the callback URL. The state must match the one bound to this browser;
   * the ID token must pass the provider's MFA and domain policy. Refusals explain themselves.
   */
  async finish(
    callback: URL,
    boundState: string | undefined,
    now = Date.now(),
  ): Promise<SignedIn & { returnTo: string }> {
    const state = callback.searchParams.get('state');
    if (!state || !boundState || state !== boundState) {
      throw new PeopleError(
        'PALISADE_SSO_REFUSED',
        'this sign-in was not started in this browser (state mismatch); start again from the sign-in page',
      );
    }
    const login = await this.store.takeLogin(this.store.db, hashSecret(state));
    if (!login || login.expires_at <= now)
      throw new PeopleError(
        'PALISADE_SSO_REFUSED',
        'this sign-in expired or was already completed; start again',
      );
    const idpError = callback.searchParams.get('error');
    if (idpError) {
      throw new PeopleError(
        'PALISADE_SSO_REFUSED',
        `the identity provider refused: ${idpError}${callback.searchParams.get('error_description') ? ` (${callback.searchParams.get('error_description')!.slice(0, 300)})` : ''}`,
      );
    }
    const { config, row } = await this.#configuration(login.provider_id);
    let claims: oidc.IDToken;
    try {
      const tokens = await oidc.authorizationCodeGrant(
        config,
        new URL(`${this.redirectUri}${callback.search}`),
        {
          pkceCodeVerifier: login.code_verifier,
          expectedState: state,
          expectedNonce: login.nonce,
          idTokenExpected: true,
        },
      );
      claims = tokens.claims()!;
      // Some providers put email and name only in userinfo (OIDC Core 5.4): ask, bound to this sub.
      if ((claims.email === undefined || claims.name === undefined) && tokens.access_token) {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
        claims = {
          ...claims,
          email: claims.email ?? info.email,
          email_verified: claims.email_verified ?? info.email_verified,
          name: claims.name ?? info.name,
        };
      }
    } catch (error) {
      throw new PeopleError(
        'PALISADE_SSO_REFUSED',
        `the sign-in with ${row.display_name} could not be verified: ${error instanceof Error ? error.message : 'token exchange failed'}`,
      );
    }
    try {
      this.#checkPolicy(row, claims);
    } catch (error) {
      await this.audit.recordAlone({
        type: 'dev.palisade.auth.signin.failed.v1',
        subject: `idp:${row.id}`,
        outcome: 'failure',
        actor: {
          subject: 'anonymous',
          kind: 'anonymous',
          act: { iss: claims.iss, sub: claims.sub, amr: claims.amr ?? null, acr: claims.acr ?? null },
        },
        body: { method: 'sso', provider: row.id, reason: error instanceof Error ? error.message : 'refused' },
      });
      throw error;
    }
    const userId = await this.#link(row, claims, now);
    return {
      userId,
      returnTo: login.return_to,
      authentication: {
        amr: Array.isArray(claims.amr) ? claims.amr.filter((m): m is string => typeof m === 'string') : [],
        ...(typeof claims.acr === 'string' ? { acr: claims.acr } : {}),
        auth_time: typeof claims.auth_time === 'number' ? claims.auth_time : Math.floor(now / 1000),
        upstream: { iss: claims.iss, sub: claims.sub },
      },
    };
  }

  #checkPolicy(
    row: { display_name: string; require_mfa: number; accepted_acr: string; allowed_email_domains: string },
    claims: oidc.IDToken,
  ): void {
    const acceptedAcr = JSON.parse(row.accepted_acr) as string[];
    const amr = Array.isArray(claims.amr) ? claims.amr.filter((m): m is string => typeof m === 'string') : [];
    if (row.require_mfa === 1 && !mfaSatisfied(amr)) {
      throw new PeopleError(
        'PALISADE_SSO_MFA_REQUIRED',
        `Palisade requires multi-factor authentication for ${row.display_name}, but the sign-in your identity provider reported used only ${amr.length ? amr.join(', ') : 'an unspecified method'} (amr). ` +
          'Ask your identity provider administrator to require MFA for the Palisade application and to include the amr claim (RFC 8176) in its ID tokens.',
      );
    }
    if (acceptedAcr.length > 0 && (typeof claims.acr !== 'string' || !acceptedAcr.includes(claims.acr))) {
      throw new PeopleError(
        'PALISADE_SSO_MFA_REQUIRED',
        `Palisade accepts sign-ins from ${row.display_name} only at assurance level ${acceptedAcr.join(' or ')}, but this one was ${typeof claims.acr === 'string' ? claims.acr : 'not stated'} (acr). ` +
          'Ask your identity provider administrator to enforce that level for the Palisade application.',
      );
    }
    const domains = JSON.parse(row.allowed_email_domains) as string[];
    if (domains.length > 0) {
      const email = typeof claims.email === 'string' ? claims.email.toLowerCase() : '';
      const domain = email.slice(email.lastIndexOf('@') + 1);
      if (!email.includes('@') || claims.email_verified === false || !domains.includes(domain)) {
        throw new PeopleError(
          'PALISADE_SSO_REFUSED',
          `${row.display_name} sign-ins are accepted only for verified addresses at ${domains.join(', ')}`,
        );
      }
    }
  }

  /** The Palisade user for this upstream identity: found by (issuer, subject), or created. */
  async #link(
    row: { id: string; default_role: string | null; default_organization: string | null },
    claims: oidc.IDToken,
    now: number,
  ): Promise<string> {
    const email = typeof claims.email === 'string' ? claims.email.slice(0, 320) : null;
    return this.store.transaction(async (trx) => {
      const existing = await this.store.identity(trx, claims.iss, claims.sub);
      if (existing) {
        const user = await this.identity.findUser(trx, existing.user_id);
        if (!user || user.disabled_at !== null)
          throw new PeopleError(
            'PALISADE_SSO_REFUSED',
            'this account is disabled; ask a Palisade administrator',
          );
        await this.store.touchIdentity(trx, claims.iss, claims.sub, now, email);
        return existing.user_id;
      }
      const userId = randomUUID();
      const name = typeof claims.name === 'string' ? claims.name : (email ?? claims.sub);
      await this.identity.insertUser(trx, {
        id: userId,
        display_name: name.slice(0, 100),
        email,
        is_admin: 0,
        created_at: now,
        disabled_at: null,
      });
      await this.store.insertIdentity(trx, {
        issuer: claims.iss,
        subject: claims.sub,
        user_id: userId,
        provider_id: row.id,
        email,
        created_at: now,
        last_sign_in_at: now,
      });
      if (row.default_role && row.default_organization) {
        await this.identity.ensureOrganization(trx, row.default_organization, now);
        await this.identity.insertBinding(trx, {
          id: randomUUID(),
          principal: `user:${userId}`,
          role: row.default_role,
          organization: row.default_organization,
          repository: '',
          created_at: now,
        });
      }
      // The new person is the actor of their own arrival: the IdP vouched for them.
      const actor = actorForUser(userId, { upstream: { iss: claims.iss, sub: claims.sub } });
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.user.created.v1',
        subject: `user:${userId}`,
        actor,
        body: {
          after: { id: userId, display_name: name.slice(0, 100), email, via: `sso:${row.id}` },
          default_role: row.default_role,
          default_organization: row.default_organization,
        },
      });
      return userId;
    });
  }
}

function view(row: NonNullable<Awaited<ReturnType<SsoStore['provider']>>>): ProviderView {
  return {
    id: row.id,
    display_name: row.display_name,
    issuer: row.issuer,
    client_id: row.client_id,
    auth_method: row.auth_method,
    public_jwk: row.public_jwk ? (JSON.parse(row.public_jwk) as JWK) : null,
    extra_scopes: JSON.parse(row.extra_scopes) as string[],
    allowed_email_domains: JSON.parse(row.allowed_email_domains) as string[],
    acr_values: JSON.parse(row.acr_values) as string[],
    accepted_acr: JSON.parse(row.accepted_acr) as string[],
    require_mfa: row.require_mfa === 1,
    default_role: row.default_role,
    default_organization: row.default_organization,
  };
}
