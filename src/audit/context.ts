// Who is acting, carried from the HTTP edge to wherever an event is recorded without threading
// it through every service call: the server runs each request inside an AsyncLocalStorage scope,
// and the edge fills in the principal once it is known. Work outside any request (GC, host-local
// commands) records the system as its actor.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Principal } from '../identity/authorizer.js';

export interface AuditScope {
  requestId: string;
  ip: string;
  userAgent?: string;
  /** The request path (the CloudEvent `source` is the server URL plus this). */
  path: string;
  principal?: Principal;
}

export const auditScope = new AsyncLocalStorage<AuditScope>();

export function currentScope(): AuditScope | undefined {
  return auditScope.getStore();
}

/** Records who the caller turned out to be, for events the rest of this request writes. */
export function setPrincipal(principal: Principal): void {
  const scope = auditScope.getStore();
  if (scope) scope.principal = principal;
}
