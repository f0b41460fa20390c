// The contract between every HTTP edge and identity: routes declare a capability, the
// authorizer decides for the caller behind the request. Routes never look at credentials.
import type { Capability } from './capabilities.js';
import type { Authentication, VerifiedToken } from './tokens.js';

export interface RequestContext {
  /** Client address as seen by the server (no proxy headers are trusted). */
  ip: string;
  requestId: string;
  /** The Authorization header, if any. */
  authorization?: string;
  /** Memo of the resolved caller, so one request verifies its token once. */
  principal?: Promise<Principal>;
}

export interface Principal {
  kind: 'user' | 'workload' | 'system' | 'anonymous';
  /** The token's `sub` (`user:<id>`, `identity:<id>`, `system:break-glass`) or `anonymous`. */
  subject: string;
  /** A system administrator (holds every capability everywhere). */
  admin: boolean;
  /** OAuth scopes of an access token; empty for registry tokens and anonymous callers. */
  scopes: ReadonlySet<string>;
  /** The verified token, when one was presented. */
  token?: VerifiedToken;
  authentication: Authentication;
}

/** What a capability is asked for: a repository (by name), a whole organization, or the system. */
export type Target = string | { organization: string } | undefined;

export interface Authorizer {
  /** Resolves with the caller when allowed; throws a 401/403 error of the edge's protocol otherwise. */
  authorize(context: RequestContext, capability: Capability, target?: Target): Promise<Principal>;
  /** True when the caller may pull from the repository (used to decide cross-repository mounts). */
  canRead(context: RequestContext, repository: string): Promise<boolean>;
}
