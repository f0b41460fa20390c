// The authorizer every edge uses: reads `Authorization: Bearer <jwt>`, verifies it (access token
// or registry token), resolves the principal and asks the access policy. Refusals follow the
// Docker token flow: no or bad token, or a registry token lacking the action → 401 with a
// `WWW-Authenticate: Bearer realm=…/token,service=…,scope=…` challenge (clients fetch a token and
// retry); a valid access token whose principal lacks the capability → 403.
import { OciError } from '../registry/errors.js';
import type { AccessPolicy } from './access-policy.js';
import { ANONYMOUS } from './access-policy.js';
import type { Authorizer, Principal, RequestContext, Target } from './authorizer.js';
import type { Capability } from './capabilities.js';
import { InvalidTokenError } from './errors.js';
import type { TokenService } from './tokens.js';

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

export class BearerAuthorizer implements Authorizer {
  constructor(
    private readonly tokens: TokenService,
    private readonly policy: AccessPolicy,
  ) {}

  principal(context: RequestContext): Promise<Principal> {
    context.principal ??= this.#resolve(context.authorization);
    return context.principal;
  }

  async #resolve(header: string | undefined): Promise<Principal> {
    if (header === undefined || header === '') return ANONYMOUS;
    const match = BEARER.exec(header);
    if (!match) throw new InvalidTokenError('the Authorization header must be "Bearer <token>"');
    const verified = await this.tokens.verify(match[1]!, ['access', 'registry']);
    return this.policy.principalFor(verified);
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
