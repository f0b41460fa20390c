// SQL for trust policies and the role bindings that carry their grants.
import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database, TrustPoliciesTable } from '../../db/schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

function fromRow(row: TrustPoliciesTable): TrustPoliciesTable {
  return {
    ...row,
    max_ttl_seconds: Number(row.max_ttl_seconds),
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
  };
}

export class FederationStore {
  constructor(readonly db: Kysely<Database>) {}

  async insert(ex: Executor, row: TrustPoliciesTable): Promise<void> {
    await ex.insertInto('trust_policies').values(row).execute();
  }

  async update(ex: Executor, row: TrustPoliciesTable): Promise<void> {
    const { id, ...rest } = row;
    await ex.updateTable('trust_policies').set(rest).where('id', '=', id).execute();
  }

  async delete(ex: Executor, id: string): Promise<boolean> {
    const result = await ex.deleteFrom('trust_policies').where('id', '=', id).executeTakeFirst();
    await ex.deleteFrom('role_bindings').where('principal', '=', `identity:${id}`).execute();
    return Number(result.numDeletedRows) === 1;
  }

  async find(ex: Executor, id: string): Promise<TrustPoliciesTable | undefined> {
    const row = await ex.selectFrom('trust_policies').selectAll().where('id', '=', id).executeTakeFirst();
    return row && fromRow(row);
  }

  async list(ex: Executor, organization?: string): Promise<TrustPoliciesTable[]> {
    let query = ex.selectFrom('trust_policies').selectAll().orderBy('created_at').orderBy('id');
    if (organization !== undefined) query = query.where('organization', '=', organization);
    return (await query.execute()).map(fromRow);
  }

  /** Replaces the identity's role bindings with one per role and repository (or organization-wide). */
  async replaceBindings(
    ex: Executor,
    id: string,
    grant: { organization: string; roles: string[]; repositories: string[] },
    now: number,
  ): Promise<void> {
    const principal = `identity:${id}`;
    await ex.deleteFrom('role_bindings').where('principal', '=', principal).execute();
    const places = grant.repositories.length > 0 ? grant.repositories : [''];
    const rows = grant.roles.flatMap((role) =>
      places.map((repository) => ({
        id: randomUUID(),
        principal,
        role,
        organization: grant.organization,
        repository,
        created_at: now,
      })),
    );
    await ex.insertInto('role_bindings').values(rows).execute();
  }
}
