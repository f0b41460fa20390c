// The HTTP edge of trust policies (/api/v1/iam/identities). An identity belongs to one
// organization: its owners (iam.identities.write there) create, change and delete it, anyone with
// iam.read there sees it; the list of every organization's identities is for administrators. An
// unknown id reaches only administrators (as a 404), so ids of other organizations stay unknown.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseInput } from '../../lib/validate.js';
import type { Target } from '../authorizer.js';
import { ORGANIZATION } from '../iam.js';
import { PeopleError } from '../people-errors.js';
import { newPolicySchema, policyChangesSchema } from './policy.js';
import type { TrustPolicies } from './trust-policies.js';

const API = '/api/v1/iam/identities';
const BODY_LIMIT = 32 * 1024;

const idOf = (request: FastifyRequest) =>
  parseInput(z.object({ id: z.string().uuid('an identity id') }).strict(), request.params).id;

export function mountIdentities(app: FastifyInstance, policies: TrustPolicies): void {
  const ofIdentity = async (request: FastifyRequest): Promise<Target> => {
    const organization = await policies.organizationOf(idOf(request));
    return organization ? { organization } : undefined;
  };
  const ofBody = (request: FastifyRequest): Target => {
    const organization = (request.body as Record<string, unknown> | undefined)?.organization;
    if (typeof organization !== 'string' || !ORGANIZATION.test(organization)) {
      throw new PeopleError('PALISADE_BAD_REQUEST', 'organization: one lowercase path component, e.g. acme');
    }
    return { organization };
  };
  const ofQuery = (request: FastifyRequest): Target => {
    const organization = (request.query as Record<string, unknown>).organization;
    return typeof organization === 'string' && ORGANIZATION.test(organization) ? { organization } : undefined;
  };

  app.post(
    API,
    { config: { capability: 'iam.identities.write', target: ofBody }, bodyLimit: BODY_LIMIT },
    async (request, reply) =>
      reply
        .code(201)
        .send(await policies.create(parseInput(newPolicySchema, request.body), request.principal!.subject)),
  );

  app.get(API, { config: { capability: 'iam.read', target: ofQuery } }, async (request) => {
    const query = parseInput(
      z.object({ organization: z.string().max(255).regex(ORGANIZATION).optional() }).strict(),
      request.query,
    );
    return { identities: await policies.list(query.organization) };
  });

  app.get(`${API}/:id`, { config: { capability: 'iam.read', target: ofIdentity } }, async (request) =>
    policies.get(idOf(request)),
  );

  app.patch(
    `${API}/:id`,
    { config: { capability: 'iam.identities.write', target: ofIdentity }, bodyLimit: BODY_LIMIT },
    async (request) => policies.update(idOf(request), parseInput(policyChangesSchema, request.body)),
  );

  app.delete(
    `${API}/:id`,
    { config: { capability: 'iam.identities.write', target: ofIdentity } },
    async (request, reply) => {
      await policies.delete(idOf(request));
      return reply.code(204).send();
    },
  );
}
