// Who may do what: turns a verified token into a principal and answers "may this principal use
// this capability (on this repository)?" from admin status, OAuth scope, role bindings and the
// public-repository list. Also computes the registry access /token may grant: exactly the
// intersection of what was asked for and what the principal may do.
import { ADMIN_ONLY, ROLES, isRole, organizationOf, type Capability } from './capabilities.js';
import { InvalidTokenError } from './errors.js';
import type { Principal, Target } from './authorizer.js';
import type { IdentityStore } from './store.js';
import type { AccessEntry, VerifiedToken } from './tokens.js';

export const BREAK_GLASS_SUBJECT = 'system:break-glass';
export const ANONYMOUS_SUBJECT = 'anonymous';

/** OAuth scopes of access tokens: which interfaces the token may be used on. */
export const SCOPES = ['registry', 'api', 'admin'] as const;

const REGISTRY_ACTIONS: Record<string, Capability> = {
  pull: 'repo.pull',
  push: 'repo.push',
  delete: 'repo.delete',
};

export const ANONYMOUS: Principal = {
  kind: 'anonymous',
  subject: ANONYMOUS_SUBJECT,
  admin: false,
  scopes: new Set(),
  authentication: {},
};

export class AccessPolicy {
  constructor(private readonly store: IdentityStore) {}

  /** The principal behind a verified token; throws InvalidTokenError for unknown or disabled users. */
  async principalFor(token: VerifiedToken): Promise<Principal> {
    const { sub, amr, acr, auth_time, upstream, workload } = token.claims;
    const authentication = { amr, acr, auth_time, upstream, workload };
    const scopes = new Set(token.kind === 'access' ? token.claims.scope.split(' ').filter(Boolean) : []);
    if (sub === ANONYMOUS_SUBJECT && token.kind === 'registry') {
      return { ...ANONYMOUS, token, authentication: {} };
    }
    if (sub === BREAK_GLASS_SUBJECT) {
      return { kind: 'system', subject: sub, admin: scopes.has('admin'), scopes, token, authentication };
    }
    if (sub.startsWith('user:')) {
      const user = await this.store.findUser(this.store.db, sub.slice('user:'.length));
      if (!user || user.disabled_at !== null)
        throw new InvalidTokenError('the account behind this token no longer exists or is disabled');
      if (user.tokens_not_before && token.claims.iat * 1000 < user.tokens_not_before) {
        throw new InvalidTokenError('token was revoked (signed out everywhere)');
      }
      // Registry tokens carry their grants; admin power comes only with an access token's admin scope.
      const admin = user.is_admin === 1 && scopes.has('admin');
      return { kind: 'user', subject: sub, admin, scopes, token, authentication };
    }
    if (sub.startsWith('identity:')) {
      // Deleting the trust policy ends what its exchanged tokens may do at once.
      if (!(await this.store.trustPolicyExists(this.store.db, sub.slice('identity:'.length))))
        throw new InvalidTokenError('the identity behind this token no longer exists');
      return { kind: 'workload', subject: sub, admin: false, scopes, token, authentication };
    }
    throw new InvalidTokenError('token subject is not known here');
  }

  /**
   * Whether the principal may use `capability` on `target`: a repository (bindings on it or its
   * organization count), an organization (only organization-wide bindings count), or, when
   * undefined, the whole system (administrators only).
   */
  async can(principal: Principal, capability: Capability, target?: Target): Promise<boolean> {
    const repository = typeof target === 'string' ? target : undefined;
    if (capability === 'public') return true;
    if (capability === 'authenticated') return principal.token !== undefined;
    if (capability === 'session') return false; // a browser session, never a bearer token
    const token = principal.token;
    if (token?.kind === 'registry') return registryTokenAllows(token.claims.access, capability, repository);
    const needed = capability.startsWith('repo.') || capability === 'registry.catalog' ? 'registry' : 'api';
    const scoped = token !== undefined && (principal.scopes.has(needed) || principal.scopes.has('admin'));
    if (scoped && principal.admin) return true;
    if (
      capability === 'repo.pull' &&
      repository !== undefined &&
      (await this.store.isPublic(this.store.db, repository))
    ) {
      return true;
    }
    if (!scoped) return false;
    if (ADMIN_ONLY.includes(capability) || target === undefined) return false;
    const bindings =
      repository === undefined
        ? await this.store.organizationBindingsFor(
            this.store.db,
            principal.subject,
            (target as { organization: string }).organization,
          )
        : await this.store.bindingsFor(
            this.store.db,
            principal.subject,
            organizationOf(repository),
            repository,
          );
    return bindings.some(
      (b) => isRole(b.role) && (ROLES[b.role] as readonly Capability[]).includes(capability),
    );
  }

  /**
   * What /token grants for the requested scopes: each requested action the principal may do, and
   * nothing else (unknown types and actions are dropped, as Distribution's token servers do).
   */
  async grantRegistryAccess(principal: Principal, requested: AccessEntry[]): Promise<AccessEntry[]> {
    const granted: AccessEntry[] = [];
    for (const entry of requested) {
      const actions: string[] = [];
      if (entry.type === 'repository') {
        const wanted = entry.actions.includes('*') ? Object.keys(REGISTRY_ACTIONS) : entry.actions;
        for (const action of new Set(wanted)) {
          const capability = REGISTRY_ACTIONS[action];
          if (capability && (await this.can(principal, capability, entry.name))) actions.push(action);
        }
      } else if (entry.type === 'registry' && entry.name === 'catalog' && entry.actions.includes('*')) {
        if (await this.can(principal, 'registry.catalog')) actions.push('*');
      }
      const existing = granted.find((g) => g.type === entry.type && g.name === entry.name);
      if (existing) existing.actions = [...new Set([...existing.actions, ...actions])];
      else granted.push({ type: entry.type, name: entry.name, actions });
    }
    return granted.filter((g) => g.actions.length > 0);
  }
}

function registryTokenAllows(access: AccessEntry[], capability: Capability, repository?: string): boolean {
  if (capability === 'registry.catalog') {
    return access.some((a) => a.type === 'registry' && a.name === 'catalog' && a.actions.includes('*'));
  }
  const action = Object.entries(REGISTRY_ACTIONS).find(([, c]) => c === capability)?.[0];
  if (!action || repository === undefined) return false;
  return access.some((a) => a.type === 'repository' && a.name === repository && a.actions.includes(action));
}
