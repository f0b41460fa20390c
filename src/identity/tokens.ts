// Minting and verifying Palisade's own JWTs. Two kinds share the issuer key:
// - access tokens (RFC 9068 `at+jwt`, audience = the issuer URL): who the caller is, how they
//   authenticated originally (amr, acr, upstream iss/sub) and the OAuth scope granted;
// - registry tokens (Docker token spec, audience = the registry service): the exact repository
//   actions granted by /token, already intersected with what the caller may do.
// Verification accepts only ES256 from our own key table, our issuer, a listed audience, a
// bounded lifetime and a known kid; revoked access tokens are refused.
import { randomUUID } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { InvalidTokenError } from './errors.js';
import { SIGNING_ALGORITHM, type SigningKeys } from './signing-keys.js';
import type { IdentityStore } from './store.js';

export const MAX_TOKEN_TTL_SECONDS = 3600;
const CLOCK_SKEW_SECONDS = 30;
const ACCESS_TOKEN_TYPE = 'at+jwt';
const REGISTRY_TOKEN_TYPE = 'JWT';

/** How the person or workload behind a token originally authenticated. */
export interface Authentication {
  /** RFC 8176 methods, e.g. ["hwk", "user", "mfa"] for a passkey. */
  amr?: string[];
  acr?: string;
  /** Seconds since the epoch. */
  auth_time?: number;
  /** The upstream identity (SSO issuer and subject, or a workload's token issuer and subject). */
  upstream?: { iss: string; sub: string };
  /** For exchanged workload tokens: the trust policy used and the claims it saw (bounded). */
  workload?: WorkloadEvidence;
}

export interface WorkloadEvidence {
  /** The trust policy (identity) the token was exchanged under. */
  identity: string;
  /** The external token's audience. */
  aud: string[];
  /** Claims describing the job: those the policy matched and well-known CI/cluster ones. */
  claims: Record<string, string | number | boolean>;
}

export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

export interface MintedToken {
  token: string;
  jti: string;
  /** Seconds. */
  expiresIn: number;
  issuedAt: number;
  expiresAt: number;
}

export interface AccessTokenClaims extends JWTPayload, Authentication {
  sub: string;
  jti: string;
  exp: number;
  iat: number;
  scope: string;
  client_id?: string;
}

export interface RegistryTokenClaims extends JWTPayload, Authentication {
  sub: string;
  jti: string;
  exp: number;
  iat: number;
  access: AccessEntry[];
}

export type VerifiedToken =
  { kind: 'access'; claims: AccessTokenClaims } | { kind: 'registry'; claims: RegistryTokenClaims };

export interface TokenSettings {
  /** The issuer URL (also the audience of access tokens), resolved when first needed. */
  issuer: () => string;
  registryService: string;
  defaultTtlSeconds: number;
}

export class TokenService {
  constructor(
    private readonly keys: SigningKeys,
    private readonly store: IdentityStore,
    private readonly settings: TokenSettings,
  ) {}

  get issuer(): string {
    return this.settings.issuer();
  }

  get registryService(): string {
    return this.settings.registryService;
  }

  /** Clamps a requested lifetime to (0, 1 h]; the default when none is asked for. */
  ttl(requested?: number): number {
    const ttl = Math.floor(requested ?? this.settings.defaultTtlSeconds);
    return Math.max(1, Math.min(ttl, MAX_TOKEN_TTL_SECONDS));
  }

  mintAccessToken(input: {
    subject: string;
    scope: string[];
    authentication?: Authentication;
    clientId?: string;
    ttlSeconds?: number;
    /** Fixed ahead (with issuedAt) by callers that record the token's event while it is signed. */
    jti?: string;
    issuedAt?: number;
  }): Promise<MintedToken> {
    return this.#sign(
      {
        ...cleanAuthentication(input.authentication),
        scope: input.scope.join(' '),
        ...(input.clientId ? { client_id: input.clientId } : {}),
      },
      {
        subject: input.subject,
        audience: this.issuer,
        type: ACCESS_TOKEN_TYPE,
        ttl: this.ttl(input.ttlSeconds),
        ...(input.jti ? { jti: input.jti } : {}),
        ...(input.issuedAt !== undefined ? { issuedAt: input.issuedAt } : {}),
      },
    );
  }

  mintRegistryToken(input: {
    subject: string;
    access: AccessEntry[];
    authentication?: Authentication;
    ttlSeconds?: number;
  }): Promise<MintedToken> {
    return this.#sign(
      { ...cleanAuthentication(input.authentication), access: input.access },
      {
        subject: input.subject,
        audience: this.settings.registryService,
        type: REGISTRY_TOKEN_TYPE,
        ttl: this.ttl(input.ttlSeconds),
      },
    );
  }

  async #sign(
    claims: Record<string, unknown>,
    options: {
      subject: string;
      audience: string;
      type: string;
      ttl: number;
      jti?: string;
      issuedAt?: number;
    },
  ): Promise<MintedToken> {
    const { kid, key } = await this.keys.signingKey();
    const issuedAt = options.issuedAt ?? Math.floor(Date.now() / 1000);
    const expiresAt = issuedAt + options.ttl;
    const jti = options.jti ?? randomUUID();
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid, typ: options.type })
      .setIssuer(this.issuer)
      .setSubject(options.subject)
      .setAudience(options.audience)
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(jti)
      .sign(key);
    return { token, jti, expiresIn: options.ttl, issuedAt, expiresAt };
  }

  /**
   * Verifies a token meant for `audiences` (the issuer URL for API access tokens, the registry
   * service for registry tokens). Throws InvalidTokenError with a reason safe to show.
   */
  async verify(token: string, audiences: ('access' | 'registry')[]): Promise<VerifiedToken> {
    if (token.length > 8192) throw new InvalidTokenError('token too long');
    const audienceOf = { access: this.issuer, registry: this.settings.registryService };
    let payload: JWTPayload;
    let type: string | undefined;
    try {
      const result = await jwtVerify(
        token,
        async (header) => {
          if (header.alg !== SIGNING_ALGORITHM)
            throw new InvalidTokenError(`algorithm ${String(header.alg)} is not accepted`);
          const key =
            typeof header.kid === 'string' ? await this.keys.verificationKey(header.kid) : undefined;
          if (!key) throw new InvalidTokenError('token signed by an unknown key');
          return key;
        },
        {
          algorithms: [SIGNING_ALGORITHM],
          issuer: this.issuer,
          audience: audiences.map((a) => audienceOf[a]),
          clockTolerance: CLOCK_SKEW_SECONDS,
          maxTokenAge: MAX_TOKEN_TTL_SECONDS + CLOCK_SKEW_SECONDS,
          requiredClaims: ['sub', 'jti', 'exp', 'iat'],
        },
      );
      payload = result.payload;
      type = result.protectedHeader.typ;
    } catch (error) {
      throw new InvalidTokenError(describeJoseError(error));
    }
    const exp = payload.exp!;
    const iat = payload.iat!;
    if (exp - iat > MAX_TOKEN_TTL_SECONDS) throw new InvalidTokenError('token lifetime exceeds one hour');
    const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (aud.length !== 1) throw new InvalidTokenError('token must name exactly one audience');
    if (aud[0] === audienceOf.access && audiences.includes('access') && type === ACCESS_TOKEN_TYPE) {
      if (typeof payload.scope !== 'string') throw new InvalidTokenError('access token without scope');
      if (await this.store.isRevoked(this.store.db, payload.jti!))
        throw new InvalidTokenError('token was revoked');
      return { kind: 'access', claims: payload as AccessTokenClaims };
    }
    if (aud[0] === audienceOf.registry && audiences.includes('registry') && type === REGISTRY_TOKEN_TYPE) {
      if (!Array.isArray(payload.access)) throw new InvalidTokenError('registry token without access');
      return { kind: 'registry', claims: payload as RegistryTokenClaims };
    }
    throw new InvalidTokenError('token is not meant for this use');
  }

  /** Revokes an access token until it would have expired anyway. */
  async revoke(claims: { jti: string; exp: number }): Promise<void> {
    await this.store.revokeToken(this.store.db, claims.jti, claims.exp * 1000);
  }
}

function cleanAuthentication(authentication: Authentication | undefined): Authentication {
  if (!authentication) return {};
  const out: Authentication = {};
  if (authentication.amr?.length) out.amr = authentication.amr;
  if (authentication.acr) out.acr = authentication.acr;
  if (authentication.auth_time !== undefined) out.auth_time = authentication.auth_time;
  if (authentication.upstream) out.upstream = authentication.upstream;
  if (authentication.workload) out.workload = authentication.workload;
  return out;
}

function describeJoseError(error: unknown): string {
  if (error instanceof InvalidTokenError) return error.reason;
  if (error instanceof joseErrors.JWTExpired) return 'token expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'token not yet valid';
    if (error.claim === 'iat') return 'token too old';
    return `token claim ${error.claim} is not valid here`;
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature does not verify';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not accepted';
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid)
    return 'malformed token';
  return 'token could not be verified';
}
