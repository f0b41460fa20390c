// The IAM JSON API (/api/v1/iam/…) for people and scripts holding an access token with the "api"
// scope: who am I, roles, users (administrators), role bindings (owners of the organization),
// and public repositories (administrators). Inputs are validated with zod at this edge.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseInput } from '../lib/validate.js';
import { isValidRepositoryName } from '../registry/names.js';
import type { IamService } from './iam.js';
import type { Target } from './authorizer.js';
import { ROLES } from './capabilities.js';
import { newBindingSchema, newUserSchema, ORGANIZATION, userChangesSchema } from './iam.js';
import { PeopleError } from './people-errors.js';
import type { IdentityStore } from './store.js';

const BODY_LIMIT = 64 * 1024;

const params = (request: FastifyRequest) => request.params as Record<string, string>;

function organizationParam(request: FastifyRequest): Target {
  const organization = (request.query as Record<string, unknown>).organization;
  if (typeof organization !== 'string' || !ORGANIZATION.test(organization)) {
    throw new PeopleError('PALISADE_BAD_REQUEST', 'organization: give ?organization=<name>');
  }
  return { organization };
}

export function mountIam(app: FastifyInstance, iam: IamService, store: IdentityStore): void {
  const api = '/api/v1/iam';

  app.get(`${api}/whoami`, { config: { capability: 'authenticated' } }, (request) => {
    const principal = request.principal!;
    const claims = principal.token?.claims;
    return {
      subject: principal.subject,
      kind: principal.kind,
      admin: principal.admin,
      scopes: [...principal.scopes],
      authentication: principal.authentication,
      expires_at: claims ? new Date(claims.exp * 1000).toISOString() : null,
    };
  });

  app.get(`${api}/roles`, { config: { capability: 'authenticated' } }, () => ({
    roles: Object.entries(ROLES).map(([name, capabilities]) => ({ name, capabilities })),
  }));

  app.get(`${api}/users`, { config: { capability: 'iam.users.write' } }, async (request) => {
    const query = parseInput(
      z.object({
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        after: z.string().max(36).optional(),
      }),
      request.query,
    );
    return { users: await iam.listUsers(query.limit, query.after) };
  });

  app.post(
    `${api}/users`,
    { config: { capability: 'iam.users.write' }, bodyLimit: BODY_LIMIT },
    async (request, reply) => {
      const created = await iam.createUser(parseInput(newUserSchema, request.body));
      return reply.code(201).send({
        user: created.user,
        enrollment: {
          url: created.enrollment.url,
          expires_at: new Date(created.enrollment.expiresAt).toISOString(),
        },
      });
    },
  );

  app.get(`${api}/users/:id`, { config: { capability: 'iam.users.write' } }, async (request) =>
    iam.getUser(params(request).id!),
  );

  app.patch(
    `${api}/users/:id`,
    { config: { capability: 'iam.users.write' }, bodyLimit: BODY_LIMIT },
    async (request) => iam.updateUser(params(request).id!, parseInput(userChangesSchema, request.body)),
  );

  app.post(
    `${api}/users/:id/enrollment`,
    { config: { capability: 'iam.users.write' } },
    async (request, reply) => {
      const link = await iam.enrollmentFor(params(request).id!);
      return reply.code(201).send({ url: link.url, expires_at: new Date(link.expiresAt).toISOString() });
    },
  );

  app.get(
    `${api}/bindings`,
    { config: { capability: 'iam.read', target: organizationParam } },
    async (request) => ({
      bindings: await iam.listBindings((organizationParam(request) as { organization: string }).organization),
    }),
  );

  app.post(
    `${api}/bindings`,
    {
      config: {
        capability: 'iam.roles.write',
        target: (request) => {
          const organization = (request.body as Record<string, unknown> | undefined)?.organization;
          if (typeof organization !== 'string' || !ORGANIZATION.test(organization)) {
            throw new PeopleError(
              'PALISADE_BAD_REQUEST',
              'organization: must be one lowercase path component, e.g. acme',
            );
          }
          return { organization };
        },
      },
      bodyLimit: BODY_LIMIT,
    },
    async (request, reply) =>
      reply.code(201).send(await iam.createBinding(parseInput(newBindingSchema, request.body))),
  );

  app.delete(
    `${api}/bindings/:id`,
    {
      config: {
        capability: 'iam.roles.write',
        // The binding's own organization decides; an unknown id reaches only administrators (404).
        target: async (request) => {
          const binding = await store.findBinding(store.db, params(request).id!);
          return { organization: binding?.organization ?? '-' };
        },
      },
    },
    async (request, reply) => {
      await iam.deleteBinding(params(request).id!);
      return reply.code(204).send();
    },
  );

  app.get(`${api}/public-repositories`, { config: { capability: 'authenticated' } }, async () => ({
    repositories: await iam.listPublic(),
  }));

  const repositoryParam = (request: FastifyRequest): string => {
    const name = params(request)['*'] ?? '';
    if (!isValidRepositoryName(name))
      throw new PeopleError(
        'PALISADE_BAD_REQUEST',
        `invalid repository name ${JSON.stringify(name.slice(0, 100))}`,
      );
    return name;
  };
  app.put(
    `${api}/public-repositories/*`,
    { config: { capability: 'registry.admin' } },
    async (request, reply) => {
      await iam.setPublic(repositoryParam(request), true);
      return reply.code(204).send();
    },
  );
  app.delete(
    `${api}/public-repositories/*`,
    { config: { capability: 'registry.admin' } },
    async (request, reply) => {
      await iam.setPublic(repositoryParam(request), false);
      return reply.code(204).send();
    },
  );
}
