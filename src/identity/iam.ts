// Identity and access management: users (created with a one-time enrollment link, never a
// password), their admin flag and disabling, role bindings per organization or repository, and
// which repositories anyone may pull. Guards keep at least one administrator and make disabling
// someone end their sessions and tokens at once.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AuditRecorder } from '../audit/audit-log.js';
import { isValidRepositoryName } from '../registry/names.js';
import { isRole, organizationOf, ROLES } from './capabilities.js';
import type { OAuthService } from './oauth.js';
import type { EnrollmentLink, PasskeyService } from './passkeys.js';
import { PeopleError } from './people-errors.js';
import type { PeopleStore } from './people-store.js';
import type { BindingRow, IdentityStore } from './store.js';

export const ORGANIZATION = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

export const newUserSchema = z
  .object({
    display_name: z.string().trim().min(1).max(100),
    email: z.string().trim().email().max(320).optional(),
    admin: z.boolean().default(false),
  })
  .strict();

export const userChangesSchema = z
  .object({
    display_name: z.string().trim().min(1).max(100).optional(),
    email: z.string().trim().email().max(320).nullable().optional(),
    admin: z.boolean().optional(),
    disabled: z.boolean().optional(),
  })
  .strict();

export const newBindingSchema = z
  .object({
    principal: z
      .string()
      .regex(/^user:[0-9a-f-]{36}$/, 'must be user:<id> (workload identities arrive with federation)'),
    role: z.string().refine(isRole, `must be one of ${Object.keys(ROLES).join(', ')}`),
    organization: z.string().max(255).regex(ORGANIZATION, 'must be one lowercase path component, e.g. acme'),
    repository: z.string().max(255).refine(isValidRepositoryName, 'must be a repository name').optional(),
  })
  .strict();

export interface UserView {
  id: string;
  display_name: string;
  email: string | null;
  admin: boolean;
  disabled: boolean;
  created_at: string;
}

export class IamService {
  constructor(
    private readonly store: IdentityStore,
    private readonly people: PeopleStore,
    private readonly passkeys: PasskeyService,
    private readonly oauth: OAuthService,
    private readonly audit: AuditRecorder,
  ) {}

  async listUsers(limit: number, after?: string): Promise<UserView[]> {
    return (await this.store.listUsers(this.store.db, limit, after)).map(userView);
  }

  async getUser(id: string): Promise<UserView> {
    const user = await this.store.findUser(this.store.db, id);
    if (!user) throw new PeopleError('PALISADE_NOT_FOUND', `no user ${id}`);
    return userView(user);
  }

  async createUser(
    input: z.infer<typeof newUserSchema>,
    now = Date.now(),
  ): Promise<{ user: UserView; enrollment: EnrollmentLink }> {
    const id = randomUUID();
    const row = {
      id,
      display_name: input.display_name,
      email: input.email ?? null,
      is_admin: input.admin ? 1 : 0,
      created_at: now,
      disabled_at: null,
    };
    await this.store.transaction(async (trx) => {
      await this.store.insertUser(trx, row);
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.user.created.v1',
        subject: `user:${id}`,
        body: { after: userView(row) },
      });
    });
    const enrollment = await this.passkeys.createEnrollmentLink({ userId: id, makeAdmin: false, now });
    return { user: await this.getUser(id), enrollment };
  }

  async enrollmentFor(id: string): Promise<EnrollmentLink> {
    await this.getUser(id);
    return this.passkeys.createEnrollmentLink({ userId: id, makeAdmin: false });
  }

  async updateUser(
    id: string,
    changes: z.infer<typeof userChangesSchema>,
    now = Date.now(),
  ): Promise<UserView> {
    await this.store.transaction(async (trx) => {
      const user = await this.store.findUser(trx, id);
      if (!user) throw new PeopleError('PALISADE_NOT_FOUND', `no user ${id}`);
      const losesAdmin =
        user.is_admin === 1 &&
        user.disabled_at === null &&
        (changes.admin === false || changes.disabled === true);
      if (losesAdmin && (await this.store.countAdmins(trx)) <= 1) {
        throw new PeopleError(
          'PALISADE_LAST_ADMIN',
          'this is the last active administrator; make someone else an administrator first',
        );
      }
      await this.store.updateUser(trx, id, {
        ...(changes.display_name !== undefined ? { display_name: changes.display_name } : {}),
        ...(changes.email !== undefined ? { email: changes.email } : {}),
        ...(changes.admin !== undefined ? { is_admin: changes.admin ? 1 : 0 } : {}),
        ...(changes.disabled !== undefined ? { disabled_at: changes.disabled ? now : null } : {}),
      });
      if (changes.disabled === true || changes.admin === false)
        await this.store.invalidateTokensOf(trx, id, now);
      const after = await this.store.findUser(trx, id);
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.user.updated.v1',
        subject: `user:${id}`,
        body: { before: userView(user), after: userView(after!) },
      });
    });
    if (changes.disabled === true) {
      // A disabled person is out at once: sessions and refresh tokens end, access tokens stop verifying.
      await this.people.transaction(async (trx) => {
        const sessions = await this.people.deleteSessionsOf(trx, id);
        await this.audit.record(trx, {
          type: 'dev.palisade.auth.sessions.revoked.v1',
          subject: `user:${id}`,
          body: { user_id: id, sessions },
        });
      });
      await this.oauth.revokeAllFor(id, now);
    }
    return this.getUser(id);
  }

  async listBindings(organization: string): Promise<BindingRow[]> {
    return this.store.listBindings(this.store.db, organization);
  }

  async createBinding(input: z.infer<typeof newBindingSchema>, now = Date.now()): Promise<BindingRow> {
    if (input.repository !== undefined && organizationOf(input.repository) !== input.organization) {
      throw new PeopleError(
        'PALISADE_BAD_REQUEST',
        `repository ${input.repository} is not in organization ${input.organization}`,
      );
    }
    const userId = input.principal.slice('user:'.length);
    if (!(await this.store.findUser(this.store.db, userId)))
      throw new PeopleError('PALISADE_NOT_FOUND', `no user ${userId}`);
    const row: BindingRow = {
      id: randomUUID(),
      principal: input.principal,
      role: input.role,
      organization: input.organization,
      repository: input.repository ?? '',
      created_at: now,
    };
    await this.store.transaction(async (trx) => {
      const existing = await this.store.bindingsFor(
        trx,
        row.principal,
        row.organization,
        row.repository || row.organization,
      );
      if (existing.some((b) => b.role === row.role && b.repository === row.repository)) {
        throw new PeopleError('PALISADE_CONFLICT', 'this binding exists already');
      }
      await this.store.ensureOrganization(trx, row.organization, now);
      await this.store.insertBinding(trx, row);
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.binding.created.v1',
        subject: `binding:${row.id}`,
        org: row.organization,
        body: { after: row },
      });
    });
    return row;
  }

  async deleteBinding(id: string): Promise<void> {
    await this.store.transaction(async (trx) => {
      const before = await this.store.findBinding(trx, id);
      if (!before || !(await this.store.deleteBinding(trx, id)))
        throw new PeopleError('PALISADE_NOT_FOUND', `no binding ${id}`);
      await this.audit.record(trx, {
        type: 'dev.palisade.iam.binding.deleted.v1',
        subject: `binding:${id}`,
        org: before.organization,
        body: { before },
      });
    });
  }

  async setPublic(repository: string, isPublic: boolean): Promise<void> {
    await this.store.transaction(async (trx) => {
      const before = await this.store.isPublic(trx, repository);
      await this.store.setPublic(trx, repository, isPublic, Date.now());
      await this.audit.record(trx, {
        type: 'dev.palisade.registry.repository.updated.v1',
        subject: repository,
        org: organizationOf(repository),
        body: { repository, before: { public: before }, after: { public: isPublic } },
      });
    });
  }

  async listPublic(): Promise<string[]> {
    return (await this.store.listPublic(this.store.db)).map((r) => r.name);
  }
}

function userView(user: {
  id: string;
  display_name: string;
  email: string | null;
  is_admin: number;
  disabled_at: number | null;
  created_at: number;
}): UserView {
  return {
    id: user.id,
    display_name: user.display_name,
    email: user.email,
    admin: user.is_admin === 1,
    disabled: user.disabled_at !== null,
    created_at: new Date(user.created_at).toISOString(),
  };
}
