// The HTTP edge of event subscriptions (/api/v1/events/subscriptions). An organization's
// subscriptions need events.read there to be seen and events.subscriptions.write to be changed;
// subscriptions to the whole log (no org) belong to administrators. A subscription's own
// organization decides access to it, so an unknown id reaches only administrators (as a 404).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Target } from '../identity/authorizer.js';
import { ORGANIZATION } from '../identity/iam.js';
import { PeopleError } from '../identity/people-errors.js';
import { parseInput } from '../lib/validate.js';
import { newSubscriptionSchema, redeliverSchema, type SubscriptionService } from './service.js';

const BODY_LIMIT = 16 * 1024;
const API = '/api/v1/events/subscriptions';

const idOf = (request: FastifyRequest) =>
  parseInput(z.object({ id: z.string().uuid('a subscription id') }).strict(), request.params).id;

export function mountSubscriptions(app: FastifyInstance, subscriptions: SubscriptionService): void {
  const ofSubscription = async (request: FastifyRequest): Promise<Target> => {
    const { found, org } = await subscriptions.organizationOf(idOf(request));
    return found && org ? { organization: org } : undefined;
  };
  const orgOfBody = (request: FastifyRequest): Target => {
    const org = (request.body as Record<string, unknown> | undefined)?.org;
    if (org === undefined) return undefined;
    if (typeof org !== 'string' || !ORGANIZATION.test(org)) {
      throw new PeopleError('PALISADE_BAD_REQUEST', 'org: one lowercase path component, e.g. acme');
    }
    return { organization: org };
  };
  const orgOfQuery = (request: FastifyRequest): Target => {
    const org = (request.query as Record<string, unknown>).org;
    return typeof org === 'string' && ORGANIZATION.test(org) ? { organization: org } : undefined;
  };

  app.post(
    API,
    { config: { capability: 'events.subscriptions.write', target: orgOfBody }, bodyLimit: BODY_LIMIT },
    async (request, reply) => {
      const input = parseInput(newSubscriptionSchema, request.body);
      return reply.code(201).send(await subscriptions.create(input, request.principal!.subject));
    },
  );

  app.get(API, { config: { capability: 'events.read', target: orgOfQuery } }, async (request) => {
    const query = parseInput(
      z.object({ org: z.string().max(255).regex(ORGANIZATION).optional() }).strict(),
      request.query,
    );
    return { subscriptions: await subscriptions.list(query.org) };
  });

  app.get(`${API}/:id`, { config: { capability: 'events.read', target: ofSubscription } }, async (request) =>
    subscriptions.get(idOf(request)),
  );

  app.delete(
    `${API}/:id`,
    { config: { capability: 'events.subscriptions.write', target: ofSubscription } },
    async (request, reply) => {
      await subscriptions.delete(idOf(request));
      return reply.code(204).send();
    },
  );

  app.post(
    `${API}/:id/redeliver`,
    {
      config: { capability: 'events.subscriptions.write', target: ofSubscription },
      bodyLimit: BODY_LIMIT,
    },
    async (request) => {
      const input = parseInput(redeliverSchema, request.body ?? {});
      return subscriptions.redeliver(idOf(request), input.from_seq);
    },
  );
}
