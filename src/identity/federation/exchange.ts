// RFC 8693 token exchange for workloads: a CI job's or pod's own OIDC token in, a Palisade access
// token out that lives minutes and can do only what the trust policy grants. This is where such
// systems get broken, so the order matters:
//   1. bound and decode the token without trusting it; asymmetric algorithms only;
//   2. find the policies that trust its `iss` — only then is anything fetched, and only from an
//      issuer a policy names (no request ever goes to an arbitrary `iss`);
//   3. verify the signature with that issuer's keys, then exp, nbf, iat (bounded skew), lifetime,
//      and the length and charset of sub and aud;
//   4. match audience, subject and claim patterns, naming the first field that failed in the
//      policy the caller chose — never revealing other policies;
//   5. mint a token living min(policy maximum, 1 h, the subject token's remaining lifetime).
// Every exchange, successful or not, is audited with the external token's claims (never the token).
import { randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { ANONYMOUS_ACTOR, type AuditActor, type AuditRecorder } from '../../audit/audit-log.js';
import { OAuthError } from '../errors.js';
import type { MintedToken, TokenService, WorkloadEvidence } from '../tokens.js';
import { IssuerUnavailable, type IssuerKeys } from './issuer-keys.js';
import {
  issuerUrlProblem,
  MAX_CLAIM_LENGTH,
  mismatch,
  trustsIssuer,
  type Claims,
  type TrustPolicy,
} from './policy.js';
import type { TrustPolicies } from './trust-policies.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const SUBJECT_TOKEN_TYPES = [
  'urn:ietf:params:oauth:token-type:jwt',
  'urn:ietf:params:oauth:token-type:id_token',
];
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Asymmetric algorithms only: an HMAC "signature" would need a secret the issuer shares with us. */
export const ACCEPTED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];
const MAX_SUBJECT_TOKEN_BYTES = 16 * 1024;
const MAX_AUDIENCES = 10;
const PRINTABLE = /^[\x20-\x7e]+$/;
const IDENTITY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Claims worth keeping as evidence of which job acted (GitHub Actions, GitLab CI, Kubernetes). */
const EVIDENCE_CLAIMS = [
  'repository',
  'repository_id',
  'repository_owner',
  'ref',
  'ref_type',
  'sha',
  'workflow',
  'workflow_ref',
  'job_workflow_ref',
  'environment',
  'event_name',
  'run_id',
  'run_attempt',
  'actor',
  'project_path',
  'namespace_path',
  'pipeline_id',
  'job_id',
  'user_login',
  'email',
];

export interface ExchangeSettings {
  dev: boolean;
  /** The audience a token must carry when its policy names none: Palisade's issuer URL. */
  defaultAudience: () => string;
  clockSkewSeconds: number;
  /** Longest accepted subject token lifetime (exp − iat) and age (now − iat). */
  maxSubjectTokenLifetimeSeconds: number;
}

export interface ExchangeRequest {
  subjectToken: string | undefined;
  subjectTokenType: string | undefined;
  /** The identity (trust policy id) to assume; when absent, the single policy that matches. */
  identity: string | undefined;
}

export interface ExchangeResult {
  minted: MintedToken;
  policy: TrustPolicy;
}

export class TokenExchange {
  constructor(
    private readonly policies: TrustPolicies,
    private readonly issuers: IssuerKeys,
    private readonly tokens: TokenService,
    private readonly audit: AuditRecorder,
    private readonly settings: ExchangeSettings,
    private readonly clock: () => number = Date.now,
  ) {}

  async exchange(request: ExchangeRequest): Promise<ExchangeResult> {
    let claims: JWTPayload | undefined;
    let policy: TrustPolicy | undefined;
    try {
      const checked = await this.#exchange(request, (c) => (claims = c));
      policy = checked.policy;
      const issuedAt = Math.floor(this.clock() / 1000);
      const ttl = Math.min(policy.max_ttl_seconds, 3600, (checked.claims.exp as number) - issuedAt);
      if (ttl < 1) throw new OAuthError('invalid_grant', 'subject token expired');
      const jti = randomUUID();
      // Signed (off the main thread) while its event is written; the token is handed out only
      // once both are done, so no token leaves without its committed event.
      const [minted] = await Promise.all([
        this.tokens.mintAccessToken({
          subject: `identity:${policy.id}`,
          scope: ['registry', 'api'],
          authentication: {
            upstream: { iss: checked.claims.iss, sub: checked.claims.sub },
            workload: evidence(policy, checked.claims),
          },
          ttlSeconds: ttl,
          jti,
          issuedAt,
        }),
        this.audit.recordAlone({
          type: 'dev.palisade.auth.token.exchanged.v1',
          subject: `identity:${policy.id}`,
          org: policy.organization,
          actor: workloadActor(policy, checked.claims),
          body: {
            identity: policy.id,
            claims: checked.claims,
            issued: { jti, expires_at: new Date((issuedAt + ttl) * 1000).toISOString() },
          },
        }),
      ]);
      return { minted, policy };
    } catch (error) {
      if (error instanceof OAuthError) {
        await this.audit.recordAlone({
          type: 'dev.palisade.auth.token.exchanged.v1',
          subject: policy
            ? `identity:${policy.id}`
            : request.identity && IDENTITY_ID.test(request.identity)
              ? `identity:${request.identity}`
              : 'identity:unknown',
          ...(policy ? { org: policy.organization } : {}),
          actor: ANONYMOUS_ACTOR,
          outcome: 'failure',
          body: {
            identity: request.identity?.slice(0, 64) ?? null,
            reason: error.message,
            claims: claims ? bounded(claims) : null,
          },
        });
      }
      throw error;
    }
  }

  async #exchange(
    request: ExchangeRequest,
    seen: (claims: JWTPayload) => void,
  ): Promise<{ policy: TrustPolicy; claims: Claims }> {
    const { subjectToken, subjectTokenType } = request;
    if (!subjectTokenType || !SUBJECT_TOKEN_TYPES.includes(subjectTokenType)) {
      throw new OAuthError(
        'invalid_request',
        `subject_token_type must be ${SUBJECT_TOKEN_TYPES.join(' or ')}`,
      );
    }
    if (!subjectToken)
      throw new OAuthError('invalid_request', 'subject_token (the workload’s OIDC token) is required');
    if (subjectToken.length > MAX_SUBJECT_TOKEN_BYTES) {
      throw new OAuthError(
        'invalid_request',
        `subject_token is longer than ${MAX_SUBJECT_TOKEN_BYTES} bytes`,
      );
    }
    // 1. Decode without trusting anything yet.
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(subjectToken);
      unverified = decodeJwt(subjectToken);
    } catch {
      throw new OAuthError('invalid_request', 'subject_token is not a JWT');
    }
    seen(unverified);
    if (typeof header.alg !== 'string' || !ACCEPTED_ALGORITHMS.includes(header.alg)) {
      throw new OAuthError(
        'invalid_grant',
        `subject token algorithm ${String(header.alg)} is not accepted; use an asymmetric one (${ACCEPTED_ALGORITHMS.join(', ')})`,
      );
    }
    const iss = unverified.iss;
    if (typeof iss !== 'string') throw new OAuthError('invalid_grant', 'subject token has no iss claim');
    const issProblem = issuerUrlProblem(iss, this.settings.dev);
    if (issProblem)
      throw new OAuthError('invalid_grant', `subject token issuer ${iss.slice(0, 100)} ${issProblem}`);

    // 2. Which policies trust this issuer: only they allow a fetch.
    let candidates: TrustPolicy[];
    if (request.identity !== undefined) {
      if (!IDENTITY_ID.test(request.identity))
        throw new OAuthError('invalid_request', 'identity must be an identity id (a UUID)');
      const chosen = (await this.policies.all()).find((p) => p.id === request.identity);
      if (!chosen) throw new OAuthError('invalid_request', `no identity ${request.identity}`);
      if (!trustsIssuer(chosen, iss)) {
        throw new OAuthError(
          'invalid_grant',
          chosen.issuer !== null
            ? `issuer ${iss} is not ${chosen.issuer}`
            : `issuer ${iss} does not match ^(?:${chosen.issuer_pattern})$`,
        );
      }
      candidates = [chosen];
    } else {
      candidates = (await this.policies.all()).filter((p) => trustsIssuer(p, iss));
      if (candidates.length === 0) throw new OAuthError('invalid_grant', `no identity trusts issuer ${iss}`);
    }

    // 3. Verify.
    const claims = await this.#verify(subjectToken, iss);

    // 4. Match.
    const audience = this.settings.defaultAudience();
    if (request.identity !== undefined) {
      const reason = mismatch(candidates[0]!, claims, audience);
      if (reason) throw new OAuthError('invalid_grant', `${reason} (identity ${candidates[0]!.id})`);
      return { policy: candidates[0]!, claims };
    }
    const matching = candidates.filter((p) => mismatch(p, claims, audience) === undefined);
    if (matching.length === 1) return { policy: matching[0]!, claims };
    if (matching.length === 0) {
      throw new OAuthError(
        'invalid_grant',
        `no identity matches this token (subject ${claims.sub}); pass identity=<id> to learn which field did not match`,
      );
    }
    throw new OAuthError(
      'invalid_request',
      `${matching.length} identities match this token; choose one with identity=<id>`,
    );
  }

  async #verify(token: string, iss: string): Promise<Claims> {
    let getKey;
    try {
      getKey = await this.issuers.getter(iss);
    } catch (error) {
      if (error instanceof IssuerUnavailable)
        throw new OAuthError('invalid_grant', `${error.message}; try again later`);
      throw error;
    }
    const skew = this.settings.clockSkewSeconds;
    const maxLifetime = this.settings.maxSubjectTokenLifetimeSeconds;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer: iss,
        algorithms: ACCEPTED_ALGORITHMS,
        clockTolerance: skew,
        maxTokenAge: maxLifetime + skew,
        requiredClaims: ['exp', 'iat', 'sub', 'aud'],
        currentDate: new Date(this.clock()),
      }));
    } catch (error) {
      throw new OAuthError('invalid_grant', describe(error));
    }
    const now = Math.floor(this.clock() / 1000);
    if (payload.iat! > now + skew)
      throw new OAuthError('invalid_grant', 'subject token was issued in the future');
    if (payload.exp! - payload.iat! > maxLifetime) {
      throw new OAuthError('invalid_grant', `subject token lifetime exceeds ${maxLifetime} s`);
    }
    const sub = payload.sub!;
    if (sub.length > MAX_CLAIM_LENGTH || !PRINTABLE.test(sub)) {
      throw new OAuthError(
        'invalid_grant',
        `subject token sub must be 1–${MAX_CLAIM_LENGTH} printable ASCII characters`,
      );
    }
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (
      audiences.length === 0 ||
      audiences.length > MAX_AUDIENCES ||
      audiences.some((a) => typeof a !== 'string' || a.length > MAX_CLAIM_LENGTH || !PRINTABLE.test(a))
    ) {
      throw new OAuthError(
        'invalid_grant',
        `subject token aud must be 1–${MAX_AUDIENCES} printable strings of at most ${MAX_CLAIM_LENGTH} characters`,
      );
    }
    return payload as Claims;
  }
}

function evidence(policy: TrustPolicy, claims: Claims): WorkloadEvidence {
  const out: Record<string, string | number | boolean> = {};
  for (const name of [...Object.keys(policy.claim_patterns), ...EVIDENCE_CLAIMS]) {
    const value = claims[name];
    if (typeof value === 'string') out[name] = value.slice(0, 256);
    else if (typeof value === 'number' || typeof value === 'boolean') out[name] = value;
  }
  const k8s = claims['kubernetes.io'] as
    { namespace?: unknown; serviceaccount?: { name?: unknown }; pod?: { name?: unknown } } | undefined;
  if (k8s && typeof k8s === 'object') {
    if (typeof k8s.namespace === 'string') out['kubernetes.io/namespace'] = k8s.namespace.slice(0, 256);
    if (typeof k8s.serviceaccount?.name === 'string')
      out['kubernetes.io/serviceaccount'] = k8s.serviceaccount.name.slice(0, 256);
    if (typeof k8s.pod?.name === 'string') out['kubernetes.io/pod'] = k8s.pod.name.slice(0, 256);
  }
  const aud = Array.isArray(claims.aud) ? (claims.aud as string[]) : [claims.aud as string];
  return { identity: policy.id, aud, claims: out };
}

function workloadActor(policy: TrustPolicy, claims: Claims): AuditActor {
  const proof = evidence(policy, claims);
  return {
    subject: `identity:${policy.id}`,
    kind: 'workload',
    act: { iss: claims.iss, sub: claims.sub, aud: proof.aud, identity: policy.id, ...proof.claims },
  };
}

/** Claims as evidence in an event: the unverified ones of a refused token are capped in size. */
function bounded(claims: JWTPayload): Record<string, unknown> {
  const text = JSON.stringify(claims);
  return text.length <= 8192
    ? claims
    : { truncated: true, iss: String(claims.iss).slice(0, 255), sub: String(claims.sub).slice(0, 255) };
}

function describe(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) {
    return error.claim === 'iat' ? 'subject token is too old (iat)' : 'subject token expired';
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'subject token is not yet valid (nbf)';
    if (error.claim === 'iat') return 'subject token is too old (iat)';
    if (error.reason === 'missing') return `subject token has no ${error.claim} claim`;
    return `subject token claim ${error.claim} is not valid`;
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey)
    return 'subject token was signed with a key its issuer does not publish';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed)
    return 'subject token signature does not verify with its issuer’s keys';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'subject token algorithm is not accepted';
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid)
    return 'subject token is malformed';
  return 'subject token could not be verified';
}
