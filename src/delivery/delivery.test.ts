// Delivery of the audit log to subscribers: the subscription API (validation of sinks, access by
// organization, every change an event), delivery in CloudEvents binary mode with a bearer token
// the receiver verifies through the JWKS, at-least-once across sink outages and a server restart,
// the retry window ending in "failing" without losing events, redelivery from a sequence number,
// lag in the API and /metrics, and retention holding what subscribers have not yet received.
import { rmSync } from 'node:fs';
import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../config/schema.js';
import { testDialects } from '../db/test-databases.js';
import { createUser, sendJson, withHeaders, type TestUser } from '../identity/test-helpers.js';
import { pushBlob, pushImage } from '../registry/test-helpers.js';
import { createServer, type PalisadeServer } from '../server/server.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import type { SubscriptionView } from './service.js';
import { startTestSink, type TestSink } from './test-sink.js';
import { verifyWebhookToken } from './webhook-token.js';

const settings: Partial<ConfigInput> = {
  dev: true,
  audit: { delivery: { backoffInitialMilliseconds: 10, backoffMaxSeconds: 1, retryHours: 1 } },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the worker until the subscription has nothing left to send (or `rounds` run out). */
async function drain(server: PalisadeServer, id: string, rounds = 400): Promise<SubscriptionView> {
  for (let i = 0; i < rounds; i++) {
    await server.deliverer.runOnce();
    const view = await server.subscriptions.get(id);
    if (view.lag.events === 0 || view.status === 'failing') return view;
    await sleep(5);
  }
  return server.subscriptions.get(id);
}

async function jwksOf(server: PalisadeServer) {
  const res = await server.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  return createLocalJWKSet(res.json<JSONWebKeySet>());
}

describe.each(testDialects())('event subscriptions and delivery (%s)', (dialect) => {
  let t: TestServer;
  let sink: TestSink;
  let owner: TestUser;
  let viewer: TestUser;
  let outsider: TestUser;
  let offset = 0;
  const app = () => t.server.app;
  const as = (user: TestUser | string) => ({
    authorization: `Bearer ${typeof user === 'string' ? user : user.token}`,
  });
  const create = (body: unknown, user: TestUser | string = owner) =>
    sendJson(app(), 'POST', '/api/v1/events/subscriptions', body, as(user));
  const head = async () => (await t.server.audit.store.head(t.server.database.db)).seq;

  beforeAll(async () => {
    t = await startTestServer(dialect, settings, {
      asAdmin: false,
      deliveryClock: () => Date.now() + offset,
    });
    sink = await startTestSink();
    owner = await createUser(t, { bindings: [{ role: 'owner', organization: 'acme' }] });
    viewer = await createUser(t, { bindings: [{ role: 'viewer', organization: 'acme' }] });
    outsider = await createUser(t, { bindings: [{ role: 'owner', organization: 'other' }] });
  });
  afterAll(async () => {
    await t.dispose();
    await sink.close();
  });
  afterEach(async () => {
    offset = 0;
    sink.respond = () => 204;
    sink.received.length = 0;
    for (const s of await t.server.subscriptions.list()) await t.server.subscriptions.delete(s.id);
  });

  it('creates, lists, shows and deletes subscriptions, each change an event of its caller', async () => {
    const before = await head();
    const res = await create({ org: 'acme', sink_url: sink.url, types: ['dev.palisade.registry.'] });
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json<SubscriptionView>();
    expect(created).toMatchObject({
      org: 'acme',
      sink_url: sink.url,
      types: ['dev.palisade.registry.'],
      status: 'active',
      created_by: owner.subject,
      cursor_seq: before,
      lag: { events: 0 },
    });
    const list = await app().inject({
      method: 'GET',
      url: '/api/v1/events/subscriptions?org=acme',
      headers: as(viewer),
    });
    expect(list.statusCode).toBe(200);
    expect(list.json<{ subscriptions: SubscriptionView[] }>().subscriptions.map((s) => s.id)).toEqual([
      created.id,
    ]);
    const one = await app().inject({
      method: 'GET',
      url: `/api/v1/events/subscriptions/${created.id}`,
      headers: as(viewer),
    });
    expect(one.json()).toMatchObject({ id: created.id, status: 'active' });

    const del = await app().inject({
      method: 'DELETE',
      url: `/api/v1/events/subscriptions/${created.id}`,
      headers: as(owner),
    });
    expect(del.statusCode).toBe(204);
    const gone = await app().inject({
      method: 'GET',
      url: `/api/v1/events/subscriptions/${created.id}`,
      headers: as(t.adminToken),
    });
    expect(gone.statusCode).toBe(404);

    const events = await t.server.audit.store.list(
      t.server.database.db,
      { afterSeq: before, typePrefix: 'dev.palisade.events.' },
      10,
    );
    expect(events.map((e) => [e.type, e.actor, e.subject, e.org])).toEqual([
      ['dev.palisade.events.subscription.created.v1', owner.subject, `subscription:${created.id}`, 'acme'],
      ['dev.palisade.events.subscription.deleted.v1', owner.subject, `subscription:${created.id}`, 'acme'],
    ]);
  });

  it.each([
    ['not a url', /is not a URL/],
    ['http://example.com/hook', /must use https/],
    ['ftp://example.com/hook', /must use https/],
    ['https://user:pw@example.com/hook', /must not carry credentials/],
    ['https://example.com/hook#x', /fragment/],
    ['https://10.0.0.5/hook', /10\.0\.0\.5 is a private address/],
    ['https://169.254.169.254/latest/meta-data', /link-local/],
    ['https://100.64.1.1/hook', /carrier-grade NAT/],
    ['https://[fd00::1]/hook', /unique-local/],
    ['https://[::ffff:10.0.0.1]/hook', /private address/],
    ['https://0.0.0.0/hook', /unspecified/],
  ])('refuses the sink %s, and stores nothing', async (sinkUrl, message) => {
    const before = await head();
    const res = await create({ org: 'acme', sink_url: sinkUrl });
    expect(res.statusCode).toBe(400);
    const error = res.json<{ errors: { code: string; message: string }[] }>().errors[0]!;
    expect(error.code).toBe('PALISADE_BAD_REQUEST');
    expect(error.message).toMatch(message);
    expect(await t.server.subscriptions.list()).toEqual([]);
    expect(await head()).toBe(before);
  });

  it('refuses bad fields with the field named, and stores nothing', async () => {
    const before = await head();
    for (const body of [
      { org: 'acme', sink_url: sink.url, types: ['Bad Prefix'] },
      { org: 'ACME!', sink_url: sink.url },
      { org: 'acme', sink_url: sink.url, extra: 1 },
      { org: 'acme' },
      { org: 'acme', sink_url: `https://example.com/${'a'.repeat(2100)}` },
    ]) {
      const res = await create(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    expect(await t.server.subscriptions.list()).toEqual([]);
    expect(await head()).toBe(before);
  });

  it('lets only the organization’s owners manage its subscriptions, and only administrators the whole log', async () => {
    expect((await create({ org: 'acme', sink_url: sink.url }, viewer)).statusCode).toBe(403);
    expect((await create({ org: 'acme', sink_url: sink.url }, outsider)).statusCode).toBe(403);
    expect((await create({ sink_url: sink.url }, owner)).statusCode).toBe(403);
    const mine = (await create({ org: 'acme', sink_url: sink.url })).json<SubscriptionView>();
    const url = `/api/v1/events/subscriptions/${mine.id}`;
    expect((await app().inject({ method: 'GET', url, headers: as(outsider) })).statusCode).toBe(403);
    expect((await app().inject({ method: 'DELETE', url, headers: as(outsider) })).statusCode).toBe(403);
    expect((await app().inject({ method: 'DELETE', url, headers: as(viewer) })).statusCode).toBe(403);
    expect(
      (await app().inject({ method: 'GET', url: '/api/v1/events/subscriptions', headers: as(owner) }))
        .statusCode,
    ).toBe(403);
    const whole = await create({ sink_url: sink.url }, t.adminToken);
    expect(whole.statusCode).toBe(201);
    expect(whole.json()).toMatchObject({ org: null });
    expect(await t.server.subscriptions.list()).toHaveLength(2);
  });

  it('delivers the organization’s events in order, in binary mode, with a token the receiver verifies', async () => {
    const sub = (await create({ org: 'acme', sink_url: sink.url })).json<SubscriptionView>();
    await pushImage(withHeaders(t, as(owner)), 'acme/app', 'v1');
    await pushImage(withHeaders(t, as(outsider)), 'other/app', 'v1');
    const view = await drain(t.server, sub.id);
    expect(view).toMatchObject({ status: 'active', lag: { events: 0 } });

    const expected = await t.server.audit.store.list(
      t.server.database.db,
      { afterSeq: sub.cursor_seq, org: 'acme' },
      1000,
    );
    expect(expected.length).toBeGreaterThan(3);
    expect(sink.accepted().map((r) => r.headers['ce-id'])).toEqual(
      expected.map((e) => (JSON.parse(e.event) as { id: string }).id),
    );
    expect(view.delivered_total).toBe(expected.length);
    const jwks = await jwksOf(t.server);
    for (const [i, request] of sink.accepted().entries()) {
      const stored = JSON.parse(expected[i]!.event) as Record<string, unknown> & { data: unknown };
      expect(request.headers).toMatchObject({
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-type': stored.type,
        'ce-source': stored.source,
        'ce-time': stored.time,
        'ce-org': 'acme',
        'ce-actor': owner.subject,
        'ce-auditseq': String(expected[i]!.seq),
      });
      expect(JSON.parse(request.body)).toEqual(stored.data);
      const claims = await verifyWebhookToken(request.headers.authorization, {
        jwks,
        issuer: t.server.identity.tokens.issuer,
        sinkUrl: sink.url,
        org: 'acme',
      });
      expect(claims.sub).toBe('webhook:acme');
    }
    // The same token proves nothing to another receiver, or for another organization.
    const authorization = sink.accepted()[0]!.headers.authorization;
    const issuer = t.server.identity.tokens.issuer;
    await expect(
      verifyWebhookToken(authorization, {
        jwks,
        issuer,
        sinkUrl: 'https://elsewhere.example/hook',
        org: 'acme',
      }),
    ).rejects.toThrow(/aud/);
    await expect(
      verifyWebhookToken(authorization, { jwks, issuer, sinkUrl: sink.url, org: 'other' }),
    ).rejects.toThrow(/sub/);
  });

  it('sends only the types asked for, and skips the rest for good', async () => {
    const sub = (
      await create({ org: 'acme', sink_url: sink.url, types: ['dev.palisade.registry.manifest.'] })
    ).json<SubscriptionView>();
    await pushImage(withHeaders(t, as(owner)), 'acme/app', 'v2');
    const view = await drain(t.server, sub.id);
    expect(sink.accepted().map((r) => r.headers['ce-type'])).toEqual([
      'dev.palisade.registry.manifest.pushed.v1',
    ]);
    expect(view.cursor_seq).toBe(await head());
  });

  it('retries with backoff, marks the subscription failing after the retry window, keeps its events and resumes on redelivery', async () => {
    const sub = (await create({ org: 'acme', sink_url: sink.url })).json<SubscriptionView>();
    sink.respond = () => 503;
    await pushBlob(withHeaders(t, as(owner)), 'acme/app', Buffer.from('a'));
    await pushBlob(withHeaders(t, as(owner)), 'acme/app', Buffer.from('b'));
    await t.server.deliverer.runOnce();
    let view = await t.server.subscriptions.get(sub.id);
    expect(view).toMatchObject({ status: 'active', attempts: 1, last_error: 'sink answered HTTP 503' });
    expect(view.lag.events).toBe(3); // its own creation and the two pushes
    expect(view.next_attempt_at).not.toBeNull();
    // Not due yet: the next run sends nothing.
    const sent = sink.received.length;
    offset = -60_000; // a minute earlier than the retry is scheduled for
    await t.server.deliverer.runOnce();
    expect(sink.received.length).toBe(sent);

    offset = 2 * 3_600_000; // past the 1 h retry window
    const before = await head();
    await t.server.deliverer.runOnce();
    view = await t.server.subscriptions.get(sub.id);
    expect(view.status).toBe('failing');
    expect(view.lag.events).toBe(4); // and now the event saying it is failing
    const [failing] = await t.server.audit.store.list(
      t.server.database.db,
      { afterSeq: before, typePrefix: 'dev.palisade.events.subscription.failing' },
      10,
    );
    expect(failing).toMatchObject({
      actor: 'system:palisade',
      subject: `subscription:${sub.id}`,
      org: 'acme',
    });
    // Failing: no more attempts, however long we wait.
    offset = 10 * 3_600_000;
    const attempts = sink.received.length;
    await t.server.deliverer.runOnce();
    expect(sink.received.length).toBe(attempts);

    sink.respond = () => 200;
    const res = await sendJson(
      app(),
      'POST',
      `/api/v1/events/subscriptions/${sub.id}/redeliver`,
      {},
      as(owner),
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'active', cursor_seq: sub.cursor_seq });
    view = await drain(t.server, sub.id);
    expect(view).toMatchObject({ status: 'active', attempts: 0, last_error: null, lag: { events: 0 } });
    const types = sink.accepted().map((r) => r.headers['ce-type']);
    expect(types.filter((type) => type === 'dev.palisade.registry.blob.pushed.v1')).toHaveLength(2);
    expect(types).toContain('dev.palisade.events.subscription.failing.v1');
  });

  it('redelivers from a sequence number on request', async () => {
    const sub = (await create({ org: 'acme', sink_url: sink.url })).json<SubscriptionView>();
    await pushBlob(withHeaders(t, as(owner)), 'acme/app', Buffer.from('c'));
    await drain(t.server, sub.id);
    const first = sink.accepted().map((r) => r.headers['ce-id']);
    const from = Number(sink.accepted()[0]!.headers['ce-auditseq']);
    const res = await sendJson(
      app(),
      'POST',
      `/api/v1/events/subscriptions/${sub.id}/redeliver`,
      { from_seq: from },
      as(owner),
    );
    expect(res.json()).toMatchObject({ cursor_seq: from - 1 });
    await drain(t.server, sub.id);
    const ids = sink.accepted().map((r) => r.headers['ce-id']);
    // Everything again from `from`, then the redelivery request's own event.
    expect(ids.slice(first.length, first.length * 2)).toEqual(first);
  });

  it('reports lag and failing subscriptions in /metrics', async () => {
    const sub = (await create({ org: 'acme', sink_url: sink.url })).json<SubscriptionView>();
    sink.respond = () => 500;
    await pushBlob(withHeaders(t, as(owner)), 'acme/app', Buffer.from('d'));
    await t.server.deliverer.runOnce();
    const { lag } = await t.server.subscriptions.get(sub.id);
    expect(lag.events).toBe(2);
    const res = await app().inject({ method: 'GET', url: '/metrics', headers: as(t.adminToken) });
    expect(res.body).toContain(
      `palisade_event_subscription_lag_events{subscription="${sub.id}",org="acme"} 2`,
    );
    expect(res.body).toContain(`palisade_event_subscription_failing{subscription="${sub.id}",org="acme"} 0`);
    expect(res.body).toMatch(
      new RegExp(`palisade_event_deliveries_total\\{subscription="${sub.id}",outcome="failed"\\} 1`),
    );
    expect(res.body).toMatch(/palisade_event_subscription_lag_seconds\{subscription="[^"]+",org="acme"\} \d/);
  });

  it('keeps events a subscriber has not received when retention prunes', async () => {
    const sub = (await create({ org: 'acme', sink_url: sink.url })).json<SubscriptionView>();
    sink.respond = () => 500;
    await pushBlob(withHeaders(t, as(owner)), 'acme/app', Buffer.from('e'));
    const result = await t.server.retention.prune(Date.now() + 1000 * 86_400_000);
    expect(result.errors).toEqual([]);
    expect(result.throughSeq).toBe(sub.cursor_seq);
    sink.respond = () => 204;
    const view = await drain(t.server, sub.id);
    expect(view.lag.events).toBe(0);
    expect(sink.accepted().map((r) => r.headers['ce-type'])).toContain(
      'dev.palisade.registry.blob.pushed.v1',
    );
  });
});

describe.each(testDialects())('delivery through sink outages and a restart (%s)', (dialect) => {
  it('delivers every event at least once, in order, to a sink that fails for a while', async () => {
    const sink = await startTestSink();
    let requests = 0;
    // Down for the first 6 requests, then every fourth request fails.
    sink.respond = () => (++requests <= 6 || requests % 4 === 0 ? 503 : 204);
    const t = await startTestServer(dialect, settings, { asAdmin: false });
    const owner = await createUser(t, { bindings: [{ role: 'owner', organization: 'acme' }] });
    const sub = (
      await sendJson(
        t.server.app,
        'POST',
        '/api/v1/events/subscriptions',
        { org: 'acme', sink_url: sink.url },
        {
          authorization: `Bearer ${owner.token}`,
        },
      )
    ).json<SubscriptionView>();
    t.server.deliverer.start();
    for (let i = 0; i < 10; i++)
      await pushBlob(
        withHeaders(t, { authorization: `Bearer ${owner.token}` }),
        'acme/app',
        Buffer.from(`one-${i}`),
      );
    while (sink.accepted().length < 3) await sleep(10);
    // Stop the first server mid-way and start a second on the same database and data directory.
    await t.server.close();
    const second = await createServer(t.server.config);
    second.deliverer.start();
    try {
      for (let i = 0; i < 10; i++) {
        await pushBlob(
          withHeaders({ ...t, server: second }, { authorization: `Bearer ${owner.token}` }),
          'acme/app',
          Buffer.from(`two-${i}`),
        );
      }
      let view = await second.subscriptions.get(sub.id);
      for (let i = 0; i < 1000 && view.lag.events > 0; i++) {
        await sleep(20);
        view = await second.subscriptions.get(sub.id);
      }
      expect(view).toMatchObject({ status: 'active', lag: { events: 0 } });
      const expected = await second.audit.store.list(
        second.database.db,
        { afterSeq: sub.cursor_seq, org: 'acme' },
        1000,
      );
      expect(expected.filter((e) => e.type === 'dev.palisade.registry.blob.pushed.v1')).toHaveLength(20);
      const ids = expected.map((e) => (JSON.parse(e.event) as { id: string }).id);
      const delivered = sink.accepted().map((r) => String(r.headers['ce-id']));
      expect(new Set(delivered)).toEqual(new Set(ids));
      // In order: the first delivery of each event follows the log's order.
      expect([...new Set(delivered)]).toEqual(ids);
      expect(sink.received.filter((r) => r.status === 503).length).toBeGreaterThanOrEqual(6);
    } finally {
      await second.close();
      await t.database.dispose();
      rmSync(t.dataDir, { recursive: true, force: true });
      await sink.close();
    }
  });
});
