// Who may do what on the registry. Every route declares one capability; the authorizer decides.
// Until the identity issue lands, the only policy is "anyone on loopback may write, anyone who
// can reach the server may read": never an open writable registry.

export type Capability =
  'registry:read' | 'registry:write' | 'registry:delete' | 'registry:catalog' | 'metrics:read' | 'public';

export const CAPABILITIES: readonly string[] = [
  'registry:read',
  'registry:write',
  'registry:delete',
  'registry:catalog',
  'metrics:read',
  'public',
];

export interface RequestContext {
  /** Client address as seen by the server (no proxy headers are trusted). */
  ip: string;
  requestId: string;
}

export interface Authorizer {
  /** Resolves when allowed; throws an OciError (UNAUTHORIZED or DENIED) otherwise. */
  authorize(context: RequestContext, capability: Capability, repository?: string): Promise<void>;
  /** True when the caller may read the repository (used to decide cross-repository mounts). */
  canRead(context: RequestContext, repository: string): Promise<boolean>;
}

export function isLoopbackAddress(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}
