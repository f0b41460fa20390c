// Managing trust policies: create, change and delete them — each with its full before/after in an
// audit event written in the same transaction as the policy and its role bindings — and a
// short-lived in-memory view of all policies for the exchange, refreshed on every local change
// (and every few seconds, for changes made by another server sharing the database).
import { randomUUID } from 'node:crypto';
import type { AuditRecorder } from '../../audit/audit-log.js';
import type { TrustPoliciesTable } from '../../db/schema.js';
import { PeopleError } from '../people-errors.js';
import type { IdentityStore } from '../store.js';
import { checkPolicy, PolicyError, type NewPolicy, type PolicyChanges, type TrustPolicy } from './policy.js';
import type { FederationStore } from './store.js';

const CACHE_MS = 5_000;
const DEFAULT_TTL_SECONDS = 900;

export function toPolicy(row: TrustPoliciesTable): TrustPolicy {
  return {
    id: row.id,
    organization: row.organization,
    description: row.description,
    issuer: row.issuer,
    issuer_pattern: row.issuer_pattern,
    subject: row.subject,
    subject_pattern: row.subject_pattern,
    audience: row.audience,
    audience_pattern: row.audience_pattern,
    claim_patterns: JSON.parse(row.claim_patterns) as Record<string, string>,
    roles: JSON.parse(row.roles) as string[],
    repositories: JSON.parse(row.repositories) as string[],
    max_ttl_seconds: row.max_ttl_seconds,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
    created_by: row.created_by,
  };
}

function toRow(policy: TrustPolicy, createdAt: number, updatedAt: number): TrustPoliciesTable {
  return {
    id: policy.id,
    organization: policy.organization,
    description: policy.description,
    issuer: policy.issuer,
    issuer_pattern: policy.issuer_pattern,
    subject: policy.subject,
    subject_pattern: policy.subject_pattern,
    audience: policy.audience,
    audience_pattern: policy.audience_pattern,
    claim_patterns: JSON.stringify(policy.claim_patterns),
    roles: JSON.stringify(policy.roles),
    repositories: JSON.stringify(policy.repositories),
    max_ttl_seconds: policy.max_ttl_seconds,
    created_at: createdAt,
    updated_at: updatedAt,
    created_by: policy.created_by,
  };
}

/** Pairs that exclude each other: setting one in a change clears the other. */
const EXCLUSIVE: [keyof PolicyChanges, keyof PolicyChanges][] = [
  ['issuer', 'issuer_pattern'],
  ['subject', 'subject_pattern'],
  ['audience', 'audience_pattern'],
];

export class TrustPolicies {
  #cache: { at: number; policies: TrustPolicy[] } | undefined;

  constructor(
    readonly store: FederationStore,
    private readonly identityStore: IdentityStore,
    private readonly audit: AuditRecorder,
    private readonly dev: boolean,
    private readonly clock: () => number = Date.now,
  ) {}

  async create(input: NewPolicy, createdBy: string): Promise<TrustPolicy> {
    const now = this.clock();
    const policy: TrustPolicy = {
      id: randomUUID(),
      organization: input.organization,
      description: input.description ?? null,
      issuer: input.issuer ?? null,
      issuer_pattern: input.issuer_pattern ?? null,
      subject: input.subject ?? null,
      subject_pattern: input.subject_pattern ?? null,
      audience: input.audience ?? null,
      audience_pattern: input.audience_pattern ?? null,
      claim_patterns: input.claim_patterns ?? {},
      roles: [...new Set(input.roles)],
      repositories: [...new Set(input.repositories ?? [])],
      max_ttl_seconds: input.max_ttl_seconds ?? DEFAULT_TTL_SECONDS,
      created_at: new Date(now).toISOString(),
      updated_at: new Date(now).toISOString(),
      created_by: createdBy,
    };
    this.#check(policy);
    await this.identityStore.transaction(async (trx) => {
      await this.identityStore.ensureOrganization(trx, policy.organization, now);
      await this.store.insert(trx, toRow(policy, now, now));
      await this.store.replaceBindings(trx, policy.id, policy, now);
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.identity.created.v1',
        subject: `identity:${policy.id}`,
        org: policy.organization,
        body: { after: policy },
      });
    });
    this.#cache = undefined;
    return policy;
  }

  async update(id: string, changes: PolicyChanges): Promise<TrustPolicy> {
    const now = this.clock();
    const after = await this.identityStore.transaction(async (trx) => {
      const row = await this.store.find(trx, id);
      if (!row) throw notFound(id);
      const before = toPolicy(row);
      const merged: Record<string, unknown> = { ...before };
      for (const [key, value] of Object.entries(changes)) if (value !== undefined) merged[key] = value;
      for (const [a, b] of EXCLUSIVE) {
        if (changes[a] !== undefined && changes[a] !== null && changes[b] === undefined) merged[b] = null;
        if (changes[b] !== undefined && changes[b] !== null && changes[a] === undefined) merged[a] = null;
      }
      const after = {
        ...(merged as unknown as TrustPolicy),
        roles: [...new Set((merged.roles as string[]) ?? [])],
        repositories: [...new Set((merged.repositories as string[]) ?? [])],
        updated_at: new Date(now).toISOString(),
      };
      this.#check(after);
      await this.store.update(trx, toRow(after, row.created_at, now));
      await this.store.replaceBindings(trx, id, after, now);
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.identity.updated.v1',
        subject: `identity:${id}`,
        org: after.organization,
        body: { before, after },
      });
      return after;
    });
    this.#cache = undefined;
    return after;
  }

  async delete(id: string): Promise<void> {
    await this.identityStore.transaction(async (trx) => {
      const row = await this.store.find(trx, id);
      if (!row || !(await this.store.delete(trx, id))) throw notFound(id);
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.identity.deleted.v1',
        subject: `identity:${id}`,
        org: row.organization,
        body: { before: toPolicy(row) },
      });
    });
    this.#cache = undefined;
  }

  async get(id: string): Promise<TrustPolicy> {
    const row = await this.store.find(this.store.db, id);
    if (!row) throw notFound(id);
    return toPolicy(row);
  }

  async list(organization?: string): Promise<TrustPolicy[]> {
    return (await this.store.list(this.store.db, organization)).map(toPolicy);
  }

  /** Every policy, from a view at most a few seconds old (the exchange's hot path). */
  async all(): Promise<TrustPolicy[]> {
    const now = this.clock();
    if (this.#cache && now - this.#cache.at < CACHE_MS) return this.#cache.policies;
    const policies = await this.list();
    this.#cache = { at: now, policies };
    return policies;
  }

  /** The organization an identity belongs to (for authorisation), if it exists. */
  async organizationOf(id: string): Promise<string | undefined> {
    return (await this.store.find(this.store.db, id))?.organization;
  }

  #check(policy: TrustPolicy): void {
    try {
      checkPolicy(policy, this.dev);
    } catch (error) {
      if (error instanceof PolicyError) throw new PeopleError('PALISADE_BAD_REQUEST', error.message);
      throw error;
    }
  }
}

function notFound(id: string): PeopleError {
  return new PeopleError('PALISADE_NOT_FOUND', `no identity ${id}`);
}
