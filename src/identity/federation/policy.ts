// What a trust policy is and how it is checked: the input schema (one of issuer or
// issuer_pattern, one of subject or subject_pattern — a policy never trusts every subject of an
// issuer — optional audience, claim patterns, roles in one organization, a lifetime of at most an
// hour), the issuer URL rules, and matching a verified token's claims against a policy with a
// message naming the first field that did not match.
import { z } from 'zod';
import { isLoopbackHost } from '../../lib/outbound.js';
import { isValidRepositoryName } from '../../registry/names.js';
import { isRole, organizationOf } from '../capabilities.js';
import { ORGANIZATION } from '../iam.js';
import { compilePattern, PatternError } from './patterns.js';

export const MAX_ISSUER_LENGTH = 255;
export const MAX_CLAIM_LENGTH = 512;
const CLAIM_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;
/** Roles a workload may hold: owners manage IAM, which stays with people. */
export const WORKLOAD_ROLES = ['editor', 'viewer', 'pusher', 'puller'] as const;

/** Why a string is not an acceptable issuer URL, or undefined when it is. */
export function issuerUrlProblem(value: string, dev: boolean): string | undefined {
  if (value.length > MAX_ISSUER_LENGTH) return `is longer than ${MAX_ISSUER_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (url.username || url.password) return 'must not contain user information';
  if (url.search || value.includes('?')) return 'must not have a query';
  if (url.hash || value.includes('#')) return 'must not have a fragment';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && dev && isLoopbackHost(url.hostname)) return undefined;
  return 'must be an https:// URL (plain http only for a loopback issuer on a server in development mode)';
}

const pattern = z
  .string()
  .max(300)
  .superRefine((value, ctx) => {
    try {
      compilePattern(value);
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message });
    }
  });

const claimValue = z.string().min(1).max(MAX_CLAIM_LENGTH);

const fields = {
  description: z.string().max(500).nullable().optional(),
  issuer: z.string().min(1).max(MAX_ISSUER_LENGTH).nullable().optional(),
  issuer_pattern: pattern
    .refine((value) => value.startsWith('https://'), 'must start with https:// (an issuer is an https URL)')
    .nullable()
    .optional(),
  subject: claimValue.nullable().optional(),
  subject_pattern: pattern.nullable().optional(),
  audience: claimValue.nullable().optional(),
  audience_pattern: pattern.nullable().optional(),
  claim_patterns: z
    .record(z.string().regex(CLAIM_NAME, 'a claim name such as repository or job_workflow_ref'), pattern)
    .refine((value) => Object.keys(value).length <= 20, 'at most 20 claim patterns')
    .optional(),
  roles: z
    .array(z.enum(WORKLOAD_ROLES, { message: `one of ${WORKLOAD_ROLES.join(', ')}` }))
    .min(1)
    .max(4)
    .optional(),
  repositories: z
    .array(z.string().max(255).refine(isValidRepositoryName, 'a repository name such as acme/app'))
    .max(100)
    .optional(),
  /** The longest an exchanged token may live (seconds, at most an hour). */
  max_ttl_seconds: z.number().int().min(60).max(3600).optional(),
};

export const newPolicySchema = z
  .object({
    ...fields,
    organization: z.string().max(255).regex(ORGANIZATION, 'one lowercase path component, e.g. acme'),
    roles: fields.roles.unwrap(),
  })
  .strict();

export const policyChangesSchema = z.object(fields).strict();

export type NewPolicy = z.infer<typeof newPolicySchema>;
export type PolicyChanges = z.infer<typeof policyChangesSchema>;

/** A trust policy as the API shows it and the exchange uses it. */
export interface TrustPolicy {
  id: string;
  organization: string;
  description: string | null;
  issuer: string | null;
  issuer_pattern: string | null;
  subject: string | null;
  subject_pattern: string | null;
  audience: string | null;
  audience_pattern: string | null;
  claim_patterns: Record<string, string>;
  roles: string[];
  repositories: string[];
  max_ttl_seconds: number;
  created_at: string;
  updated_at: string;
  created_by: string;
}

/** Rules that span fields; the message names the field. Throws PolicyError. */
export function checkPolicy(
  policy: Omit<TrustPolicy, 'id' | 'created_at' | 'updated_at' | 'created_by'>,
  dev: boolean,
): void {
  const one = (a: string, b: string, required: boolean) => {
    const set = [policy[a as keyof typeof policy], policy[b as keyof typeof policy]].filter(
      (v) => v !== null && v !== undefined,
    ).length;
    if (set > 1) throw new PolicyError(`${a}, ${b}: give one of them, not both`);
    if (required && set === 0) throw new PolicyError(`${a}: give ${a} or ${b}`);
  };
  one('issuer', 'issuer_pattern', true);
  one('subject', 'subject_pattern', true);
  one('audience', 'audience_pattern', false);
  if (policy.issuer) {
    const problem = issuerUrlProblem(policy.issuer, dev);
    if (problem) throw new PolicyError(`issuer: ${problem}`);
  }
  for (const role of policy.roles) if (!isRole(role)) throw new PolicyError(`roles: unknown role ${role}`);
  for (const repository of policy.repositories) {
    if (organizationOf(repository) !== policy.organization) {
      throw new PolicyError(`repositories: ${repository} is not in organization ${policy.organization}`);
    }
  }
}

export class PolicyError extends Error {}

/** The claims of a verified workload token that policies look at. */
export type Claims = Record<string, unknown> & { iss: string; sub: string };

/** Why the token does not match this policy (the first field that fails), or undefined when it does. */
export function mismatch(policy: TrustPolicy, claims: Claims, defaultAudience: string): string | undefined {
  if (policy.issuer !== null && claims.iss !== policy.issuer) {
    return `issuer ${claims.iss} is not ${policy.issuer}`;
  }
  if (policy.issuer_pattern !== null) {
    const p = compilePattern(policy.issuer_pattern);
    if (!p.matches(claims.iss)) return `issuer ${claims.iss} does not match ${p.anchored}`;
  }
  const audiences = Array.isArray(claims.aud) ? (claims.aud as string[]) : [claims.aud as string];
  if (policy.audience !== null) {
    if (!audiences.includes(policy.audience))
      return `audience ${audiences.join(', ')} does not include ${policy.audience}`;
  } else if (policy.audience_pattern !== null) {
    const p = compilePattern(policy.audience_pattern);
    if (!audiences.some((a) => p.matches(a)))
      return `audience ${audiences.join(', ')} does not match ${p.anchored}`;
  } else if (!audiences.includes(defaultAudience)) {
    return `audience ${audiences.join(', ')} does not include ${defaultAudience} (request the token with this audience, or set one in the identity)`;
  }
  if (policy.subject !== null && claims.sub !== policy.subject) {
    return `subject ${claims.sub} is not ${policy.subject}`;
  }
  if (policy.subject_pattern !== null) {
    const p = compilePattern(policy.subject_pattern);
    if (!p.matches(claims.sub)) return `subject ${claims.sub} does not match ${p.anchored}`;
  }
  for (const [name, source] of Object.entries(policy.claim_patterns)) {
    const p = compilePattern(source);
    const value = claims[name];
    if (value === undefined || value === null)
      return `claim ${name} is missing (it must match ${p.anchored})`;
    let text: string;
    if (typeof value === 'string') text = value;
    else if (typeof value === 'boolean') text = value ? 'true' : 'false';
    else return `claim ${name} is not a string or boolean`;
    if (text.length > MAX_CLAIM_LENGTH) return `claim ${name} is longer than ${MAX_CLAIM_LENGTH} characters`;
    if (!p.matches(text)) return `claim ${name} ${text} does not match ${p.anchored}`;
  }
  return undefined;
}

/** Whether a policy could trust tokens of this issuer (before anything is fetched). */
export function trustsIssuer(policy: TrustPolicy, iss: string): boolean {
  if (policy.issuer !== null) return policy.issuer === iss;
  return policy.issuer_pattern !== null && compilePattern(policy.issuer_pattern).matches(iss);
}
