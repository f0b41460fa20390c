// The authorizer every edge uses: reads `Authorization: Bearer <jwt>`, verifies it (access token
// or registry token), resolves the principal and asks the access policy. Refusals follow the
// Docker token flow: no or bad token, or a registry token lacking the action → 401 with a
// `WWW-Authenticate: Bearer realm=…/token,service=…,scope=…` challenge (clients fetch a token and
// retry); a valid access token whose principal lacks the capability → 403.
import { hash } from 'node:crypto';
import { OciError } from '../registry/errors.js';
import type { AccessPolicy } from './access-policy.js';
import { ANONYMOUS } from './access-policy.js';
import type { Authorizer, Principal, RequestContext, Target } from './authorizer.js';
import type { Capability } from './capabilities.js';
import { InvalidTokenError } from './errors.js';
import type { TokenService } from './tokens.js';

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;
const CACHE_MS = 10_000;
const CACHE_ENTRIES = 10_000;

export class BearerAuthorizer implements Authorizer {
  constructor(
    private readonly tokens: TokenService,
    private readonly policy: AccessPolicy,
  ) {}

  /**
   * Verified callers by token hash. A registry client sends the same token with every request of
   * a pull; checking its ES256 signature each time costs more than serving a manifest. A cached
   * entry lives at most CACHE_MS (and never past the token's expiry), so revocation, disabling a
   * user or signing out everywhere take effect within that time on every replica.
   */
  readonly #cache = new Map<string, { principal: Principal; until: number }>();

  principal(context: RequestContext): Promise<Principal> {
    context.principal ??= this.#resolve(context.authorization);
    return context.principal;
  }

  async #resolve(header: string | undefined): Promise<Principal> {
    if (header === undefined || header === '') return ANONYMOUS;
    const match = BEARER.exec(header);
    if (!match) throw new InvalidTokenError('the Authorization header must be "Bearer <token>"');
    const token = match[1]!;
    const key = hash('sha256', token, 'base64url');
    const now = Date.now();
    const cached = this.#cache.get(key);
    if (cached && cached.until > now) return cached.principal;
    const verified = await this.tokens.verify(token, ['access', 'registry']);
    const principal = await this.policy.principalFor(verified);
    if (this.#cache.size >= CACHE_ENTRIES) {
      for (const [k, entry] of this.#cache) {
        if (entry.until <= now || this.#cache.size >= CACHE_ENTRIES) this.#cache.delete(k);
        if (this.#cache.size < CACHE_ENTRIES * 0.9) break;
      }
    }
    this.#cache.set(key, { principal, until: Math.min(now + CACHE_MS, verified.claims.exp * 1000) });
    return principal;
  }

  /** Forgets every cached caller (tests, and after changes that must apply at once on this replica). */
  forget(): void {
    this.#cache.clear();
  }

  async authorize(context: RequestContext, capability: Capability, target?: Target): Promise<Principal> {
    const repository = typeof target === 'string' ? target : undefined;
    let principal: Principal;
    try {
      principal = await this.principal(context);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      throw this.#unauthorized(capability, repository, 'invalid_token', `invalid token: ${error.reason}`);
    }
    if (await this.policy.can(principal, capability, target)) return principal;
    if (principal.token?.kind === 'access') {
      throw new OciError('DENIED', deniedMessage(capability, describeTarget(target)));
    }
    if (principal.token) {
      throw this.#unauthorized(
        capability,
        repository,
        'insufficient_scope',
        `this token does not grant ${describe(capability, repository)}`,
      );
    }
    throw this.#unauthorized(capability, repository, undefined, 'authentication required');
  }

  async canRead(context: RequestContext, repository: string): Promise<boolean> {
    try {
      return await this.policy.can(await this.principal(context), 'repo.pull', repository);
    } catch (error) {
      if (error instanceof InvalidTokenError) return false;
      throw error;
    }
  }

  #unauthorized(
    capability: Capability,
    repository: string | undefined,
    error: string | undefined,
    message: string,
  ): OciError {
    const params = [`realm="${this.tokens.issuer}/token"`, `service="${this.tokens.registryService}"`];
    const scope = challengeScope(capability, repository);
    if (scope) params.push(`scope="${scope}"`);
    if (error) params.push(`error="${error}"`);
    return new OciError('UNAUTHORIZED', message, {
      headers: { 'WWW-Authenticate': `Bearer ${params.join(',')}` },
    });
  }
}

function challengeScope(capability: Capability, repository: string | undefined): string | undefined {
  if (capability === 'registry.catalog') return 'registry:catalog:*';
  if (repository === undefined) return undefined;
  if (capability === 'repo.pull') return `repository:${repository}:pull`;
  if (capability === 'repo.push') return `repository:${repository}:pull,push`;
  if (capability === 'repo.delete') return `repository:${repository}:delete`;
  return undefined;
}

function describe(capability: Capability, repository: string | undefined): string {
  return repository === undefined ? capability : `${capability} on ${repository}`;
}

function describeTarget(target: Target): string | undefined {
  if (target === undefined) return undefined;
  return typeof target === 'string' ? target : `organization ${target.organization}`;
}

function deniedMessage(capability: Capability, target: string | undefined): string {
  if (target === undefined) {
    return `${capability} needs a Palisade administrator, with a token that carries the admin scope (palisade auth login --scope "registry api admin")`;
  }
  return `you are signed in but not allowed ${capability} on ${target}; ask an owner of the organization for a role binding`;
}
