// What a route may need (capabilities) and which roles hold which. Every HTTP route declares one
// of CAPABILITIES; roles are fixed sets of them, bound to principals per organization or
// repository. Keeping both lists here makes "who may do what" readable in one place.

export const CAPABILITIES = [
  /** Anyone, signed in or not (health checks, discovery, the token endpoint itself). */
  'public',
  /** Any caller with a valid token, including an anonymous registry token (GET /v2/). */
  'authenticated',
  /** A signed-in person in a browser (a web session cookie); checked by the web routes themselves. */
  'session',
  'repo.pull',
  'repo.push',
  /** Deleting tags, manifests and blobs. */
  'repo.delete',
  /** Listing every repository (/v2/_catalog). */
  'registry.catalog',
  'metrics.read',
  /** Marking repositories public (anonymous pull). */
  'registry.admin',
  'iam.read',
  'iam.users.write',
  'iam.roles.write',
  'iam.identities.write',
  'events.read',
  /** Creating, deleting and rewinding event subscriptions (deliveries to the organization's sinks). */
  'events.subscriptions.write',
] as const;

export type Capability = (typeof CAPABILITIES)[number];

export function isCapability(value: string): value is Capability {
  return (CAPABILITIES as readonly string[]).includes(value);
}

/** Capabilities a role grants where it is bound (an organization, or one repository in it). */
export const ROLES = {
  owner: [
    'repo.pull',
    'repo.push',
    'repo.delete',
    'iam.read',
    'iam.roles.write',
    'iam.identities.write',
    'events.read',
    'events.subscriptions.write',
  ],
  editor: ['repo.pull', 'repo.push', 'repo.delete', 'iam.read'],
  viewer: ['repo.pull', 'iam.read', 'events.read'],
  pusher: ['repo.pull', 'repo.push'],
  puller: ['repo.pull'],
} as const satisfies Record<string, readonly Capability[]>;

export type Role = keyof typeof ROLES;

export function isRole(value: string): value is Role {
  return Object.hasOwn(ROLES, value);
}

/** Capabilities only a system administrator holds (no role grants them). */
export const ADMIN_ONLY: readonly Capability[] = [
  'registry.catalog',
  'registry.admin',
  'metrics.read',
  'iam.users.write',
];

/** The organization that owns a repository: the first segment of its name. */
export function organizationOf(repository: string): string {
  const slash = repository.indexOf('/');
  return slash === -1 ? repository : repository.slice(0, slash);
}
