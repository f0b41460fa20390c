// Every change leaves an event, and no event exists without its change. The first test walks the
// server's own route inventory (and the registry's endpoint table): every mutating route must have
// a case below that performs it successfully and sees its event appear — a new mutating route
// without one fails here. Events are valid CloudEvents 1.0 carrying the actor, the original
// identity's claims and the request, and never a secret.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Ajv } from 'ajv';
import formats from 'ajv-formats';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { SoftAuthenticator } from '../identity/test-authenticator.js';
import { startTestIdp, throughIdp, type TestIdp } from '../identity/test-idp.js';
import {
  basic,
  createUser,
  decodePayload,
  postForm,
  sendJson,
  withHeaders,
} from '../identity/test-helpers.js';
import { registryRoutes } from '../registry/routes.js';
import { imageManifest, pushBlob, pushImage } from '../registry/test-helpers.js';
import { digestOf } from '../lib/digest.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { AuditStore } from './store.js';
import { verifyStored } from './verify.js';

const ORIGIN = 'http://palisade.test';

/** Routes whose only state is a single-use challenge that expires within minutes; what consumes it is audited. */
const TRANSIENT = new Set([
  'POST /auth/enroll/options',
  'POST /auth/passkey/options',
  'POST /auth/passkeys/options',
  'GET /sso/:id/start',
]);
/** GET routes that change state anyway (they issue tokens or sign people in). */
const MUTATING_GETS = new Set(['GET /token', 'GET /sso/callback', 'GET /sso/:id/start']);

describe.each(testDialects())('audit events (%s)', (dialect) => {
  let t: TestServer;
  let idp: TestIdp;
  let store: AuditStore;
  let session: { cookie: string; csrf: string; key: SoftAuthenticator; userId: string };
  const app = () => t.server.app;
  const admin = () => ({ authorization: `Bearer ${t.adminToken}` });
  const json = (
    method: InjectOptions['method'],
    url: string,
    body: unknown,
    headers: Record<string, string> = {},
  ) => sendJson(app(), method, url, body, headers);
  const form = (url: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
    postForm(app(), url, body, headers);
  const ok = (res: LightMyRequestResponse) => {
    expect(res.statusCode, res.body).toBeLessThan(400);
    return res;
  };

  /** The chain head just after the last enrollment link was made (by the test, outside any request). */
  let afterLink = 0;
  async function enrollSession(makeAdmin: boolean) {
    const key = new SoftAuthenticator(ORIGIN);
    const link = await t.server.identity.passkeys.createEnrollmentLink({ makeAdmin });
    await t.server.audit.settle();
    afterLink = (await store.head(store.db)).seq;
    const start = ok(
      await json(
        'POST',
        '/auth/enroll/options',
        { token: link.token, displayName: 'Eve' },
        { origin: ORIGIN },
      ),
    ).json<{ ceremony: string; options: never }>();
    const done = ok(
      await json(
        'POST',
        '/auth/enroll/verify',
        { ceremony: start.ceremony, response: key.register(start.options), displayName: 'Eve' },
        { origin: ORIGIN },
      ),
    );
    const cookie = String(done.headers['set-cookie']).split(';')[0]!;
    const account = await app().inject({ method: 'GET', url: '/account', headers: { cookie } });
    const userId = (
      await t.server.database.db
        .selectFrom('passkeys')
        .select('user_id')
        .where('id', '=', key.id)
        .executeTakeFirstOrThrow()
    ).user_id;
    return { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(account.body)![1]!, key, userId };
  }
  const web = () => ({ cookie: session.cookie, origin: ORIGIN, 'x-csrf-token': session.csrf });

  beforeAll(async () => {
    idp = await startTestIdp(`${ORIGIN}/sso/callback`);
    t = await startTestServer(
      dialect,
      { dev: true, identity: { rateLimitPerMinute: 10_000 } },
      { asAdmin: false },
    );
    store = new AuditStore(t.server.database.db, t.server.database.dialect);
    session = await enrollSession(true);
    ok(
      await json(
        'POST',
        '/api/v1/iam/idps',
        {
          id: 'corp',
          display_name: 'Corp',
          issuer: idp.issuer,
          client_id: idp.clientId,
          client_secret: idp.clientSecret,
        },
        admin(),
      ),
    );
  });
  afterAll(async () => {
    await t.dispose();
    await idp.close();
  });

  const v2 = (path: string) => `/v2/${path}`;
  const cases: Record<string, { expect: string[]; run: () => Promise<unknown> }> = {
    'POST v2:upload-start': {
      expect: ['dev.palisade.registry.upload.started.v1'],
      run: async () =>
        ok(await app().inject({ method: 'POST', url: v2('acme/app/blobs/uploads/'), headers: admin() })),
    },
    'PATCH v2:upload': {
      expect: ['dev.palisade.registry.upload.appended.v1'],
      run: async () => {
        const start = ok(
          await app().inject({ method: 'POST', url: v2('acme/app/blobs/uploads/'), headers: admin() }),
        );
        const before = (await store.head(store.db)).seq;
        ok(
          await app().inject({
            method: 'PATCH',
            url: String(start.headers.location),
            headers: { ...admin(), 'content-type': 'application/octet-stream' },
            payload: randomBytes(10),
          }),
        );
        return before;
      },
    },
    'PUT v2:upload': {
      expect: ['dev.palisade.registry.blob.pushed.v1'],
      run: async () => {
        const data = randomBytes(20);
        const start = ok(
          await app().inject({ method: 'POST', url: v2('acme/app/blobs/uploads/'), headers: admin() }),
        );
        ok(
          await app().inject({
            method: 'PUT',
            url: `${String(start.headers.location)}?digest=${digestOf(data)}`,
            headers: { ...admin(), 'content-type': 'application/octet-stream' },
            payload: data,
          }),
        );
      },
    },
    'DELETE v2:upload': {
      expect: ['dev.palisade.registry.upload.cancelled.v1'],
      run: async () => {
        const start = ok(
          await app().inject({ method: 'POST', url: v2('acme/app/blobs/uploads/'), headers: admin() }),
        );
        ok(await app().inject({ method: 'DELETE', url: String(start.headers.location), headers: admin() }));
      },
    },
    'PUT v2:manifest': {
      expect: ['dev.palisade.registry.manifest.pushed.v1', 'dev.palisade.registry.tag.updated.v1'],
      run: async () => {
        const config = await pushBlob(withHeaders(t, admin()), 'acme/app', Buffer.from('{}'));
        const manifest = imageManifest({ digest: config, size: 2 }, []);
        ok(
          await app().inject({
            method: 'PUT',
            url: v2('acme/app/manifests/v9'),
            headers: { ...admin(), 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
            payload: manifest,
          }),
        );
      },
    },
    'DELETE v2:manifest': {
      expect: ['dev.palisade.registry.tag.deleted.v1', 'dev.palisade.registry.manifest.deleted.v1'],
      run: async () => {
        const image = await pushImage(withHeaders(t, admin()), 'acme/app', 'doomed');
        ok(await app().inject({ method: 'DELETE', url: v2('acme/app/manifests/doomed'), headers: admin() }));
        ok(
          await app().inject({
            method: 'DELETE',
            url: v2(`acme/app/manifests/${image.digest}`),
            headers: admin(),
          }),
        );
      },
    },
    'DELETE v2:blob': {
      expect: ['dev.palisade.registry.blob.deleted.v1'],
      run: async () => {
        const digest = await pushBlob(withHeaders(t, admin()), 'acme/app', randomBytes(30));
        ok(await app().inject({ method: 'DELETE', url: v2(`acme/app/blobs/${digest}`), headers: admin() }));
      },
    },
    'GET /token': {
      expect: ['dev.palisade.auth.token.issued.v1'],
      run: async () =>
        ok(
          await app().inject({
            method: 'GET',
            url: '/token?service=palisade&scope=repository:acme/app:pull',
            headers: { authorization: basic(t.adminToken) },
          }),
        ),
    },
    'POST /token': {
      expect: ['dev.palisade.auth.token.issued.v1'],
      run: async () =>
        ok(
          await form('/token', {
            grant_type: 'password',
            username: 'x',
            password: t.adminToken,
            service: 'palisade',
            scope: 'repository:acme/app:pull',
          }),
        ),
    },
    'POST /oauth/device_authorization': {
      expect: ['dev.palisade.auth.device.started.v1'],
      run: async () => ok(await form('/oauth/device_authorization', { client_id: 'palisade-cli' })),
    },
    'POST /device': {
      expect: ['dev.palisade.auth.device.approved.v1'],
      run: async () => {
        const device = (await form('/oauth/device_authorization', { client_id: 'palisade-cli' })).json<{
          user_code: string;
        }>();
        ok(
          await form(
            '/device',
            { csrf: session.csrf, user_code: device.user_code, decision: 'approve' },
            { cookie: session.cookie, origin: ORIGIN },
          ),
        );
      },
    },
    'POST /oauth/token': {
      expect: ['dev.palisade.auth.token.issued.v1'],
      run: async () => {
        const device = (await form('/oauth/device_authorization', { client_id: 'palisade-cli' })).json<{
          user_code: string;
          device_code: string;
        }>();
        await form(
          '/device',
          { csrf: session.csrf, user_code: device.user_code, decision: 'approve' },
          { cookie: session.cookie, origin: ORIGIN },
        );
        const before = (await store.head(store.db)).seq;
        ok(
          await form('/oauth/token', {
            grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
            device_code: device.device_code,
            client_id: 'palisade-cli',
          }),
        );
        return before;
      },
    },
    'POST /oauth/revoke': {
      expect: ['dev.palisade.auth.token.revoked.v1'],
      run: async () => {
        const user = await createUser(t);
        ok(await form('/oauth/revoke', { token: user.token }));
      },
    },
    'POST /auth/enroll/verify': {
      expect: [
        'dev.palisade.iam.user.created.v1',
        'dev.palisade.iam.passkey.added.v1',
        'dev.palisade.auth.session.created.v1',
      ],
      run: async () => {
        await enrollSession(false);
        return afterLink;
      },
    },
    'POST /auth/passkey/verify': {
      expect: ['dev.palisade.auth.session.created.v1'],
      run: async () => {
        const options = (await json('POST', '/auth/passkey/options', {}, { origin: ORIGIN })).json<{
          ceremony: string;
          options: { challenge: string };
        }>();
        ok(
          await json(
            'POST',
            '/auth/passkey/verify',
            { ceremony: options.ceremony, response: session.key.authenticate(options.options) },
            { origin: ORIGIN },
          ),
        );
      },
    },
    'POST /auth/passkeys': {
      expect: ['dev.palisade.iam.passkey.added.v1'],
      run: async () => {
        const start = (await json('POST', '/auth/passkeys/options', {}, web())).json<{
          ceremony: string;
          options: never;
        }>();
        ok(
          await json(
            'POST',
            '/auth/passkeys',
            {
              ceremony: start.ceremony,
              response: new SoftAuthenticator(ORIGIN).register(start.options),
              name: 'spare',
            },
            web(),
          ),
        );
      },
    },
    'POST /auth/passkeys/delete': {
      expect: ['dev.palisade.iam.passkey.removed.v1'],
      run: async () => {
        const spare =
          (await t.server.identity.passkeys.list(session.userId)).find((p) => p.name === 'spare') ??
          (await t.server.identity.passkeys.list(session.userId)).at(-1)!;
        ok(
          await form(
            '/auth/passkeys/delete',
            { csrf: session.csrf, id: spare.id },
            { cookie: session.cookie, origin: ORIGIN },
          ),
        );
      },
    },
    'POST /auth/signout': {
      expect: ['dev.palisade.auth.session.deleted.v1'],
      run: async () => {
        const other = await enrollSession(false);
        const before = (await store.head(store.db)).seq;
        ok(await form('/auth/signout', { csrf: other.csrf }, { cookie: other.cookie, origin: ORIGIN }));
        return before;
      },
    },
    'POST /auth/signout-everywhere': {
      expect: ['dev.palisade.auth.sessions.revoked.v1', 'dev.palisade.auth.tokens.revoked.v1'],
      run: async () => {
        const other = await enrollSession(false);
        const before = (await store.head(store.db)).seq;
        ok(
          await form(
            '/auth/signout-everywhere',
            { csrf: other.csrf },
            { cookie: other.cookie, origin: ORIGIN },
          ),
        );
        return before;
      },
    },
    'GET /sso/callback': {
      expect: ['dev.palisade.iam.user.created.v1', 'dev.palisade.auth.session.created.v1'],
      run: async () => {
        idp.next = { accountId: `sso-${randomBytes(4).toString('hex')}`, amr: ['mfa'] };
        const start = await app().inject({ method: 'GET', url: '/sso/corp/start' });
        const cookie = String(start.headers['set-cookie']).split(';')[0]!;
        const path = await throughIdp(String(start.headers.location), idp.issuer, ORIGIN);
        const before = (await store.head(store.db)).seq;
        expect((await app().inject({ method: 'GET', url: path, headers: { cookie } })).statusCode).toBe(303);
        return before;
      },
    },
    'POST /api/v1/iam/users': {
      expect: ['dev.palisade.iam.user.created.v1', 'dev.palisade.iam.enrollment.created.v1'],
      run: async () => ok(await json('POST', '/api/v1/iam/users', { display_name: 'New' }, admin())),
    },
    'PATCH /api/v1/iam/users/:id': {
      expect: ['dev.palisade.iam.user.updated.v1'],
      run: async () =>
        ok(
          await json(
            'PATCH',
            `/api/v1/iam/users/${(await createUser(t)).id}`,
            { display_name: 'Renamed' },
            admin(),
          ),
        ),
    },
    'POST /api/v1/iam/users/:id/enrollment': {
      expect: ['dev.palisade.iam.enrollment.created.v1'],
      run: async () =>
        ok(
          await app().inject({
            method: 'POST',
            url: `/api/v1/iam/users/${session.userId}/enrollment`,
            headers: admin(),
          }),
        ),
    },
    'POST /api/v1/iam/bindings': {
      expect: ['dev.palisade.iam.binding.created.v1'],
      run: async () =>
        ok(
          await json(
            'POST',
            '/api/v1/iam/bindings',
            { principal: `user:${(await createUser(t)).id}`, role: 'puller', organization: 'acme' },
            admin(),
          ),
        ),
    },
    'DELETE /api/v1/iam/bindings/:id': {
      expect: ['dev.palisade.iam.binding.deleted.v1'],
      run: async () => {
        const binding = (
          await json(
            'POST',
            '/api/v1/iam/bindings',
            { principal: `user:${(await createUser(t)).id}`, role: 'puller', organization: 'acme' },
            admin(),
          )
        ).json<{ id: string }>();
        const before = (await store.head(store.db)).seq;
        ok(
          await app().inject({
            method: 'DELETE',
            url: `/api/v1/iam/bindings/${binding.id}`,
            headers: admin(),
          }),
        );
        return before;
      },
    },
    'PUT /api/v1/iam/public-repositories/*': {
      expect: ['dev.palisade.registry.repository.updated.v1'],
      run: async () =>
        ok(
          await app().inject({
            method: 'PUT',
            url: '/api/v1/iam/public-repositories/acme/open',
            headers: admin(),
          }),
        ),
    },
    'DELETE /api/v1/iam/public-repositories/*': {
      expect: ['dev.palisade.registry.repository.updated.v1'],
      run: async () =>
        ok(
          await app().inject({
            method: 'DELETE',
            url: '/api/v1/iam/public-repositories/acme/open',
            headers: admin(),
          }),
        ),
    },
    'POST /api/v1/iam/idps': {
      expect: ['dev.palisade.iam.idp.created.v1'],
      run: async () =>
        ok(
          await json(
            'POST',
            '/api/v1/iam/idps',
            {
              id: 'other',
              display_name: 'O',
              issuer: 'https://idp.example',
              client_id: 'x',
              client_secret: 'y',
            },
            admin(),
          ),
        ),
    },
    'DELETE /api/v1/iam/idps/:id': {
      expect: ['dev.palisade.iam.idp.deleted.v1'],
      run: async () =>
        ok(await app().inject({ method: 'DELETE', url: '/api/v1/iam/idps/other', headers: admin() })),
    },
    'POST /api/v1/iam/identities': {
      expect: ['dev.palisade.iam.identity.created.v1'],
      run: async () =>
        ok(
          await json(
            'POST',
            '/api/v1/iam/identities',
            {
              organization: 'acme',
              issuer: 'https://token.actions.githubusercontent.com',
              subject: 'repo:acme/app:ref:refs/heads/main',
              roles: ['pusher'],
            },
            admin(),
          ),
        ),
    },
    'PATCH /api/v1/iam/identities/:id': {
      expect: ['dev.palisade.iam.identity.updated.v1'],
      run: async () => {
        const [last] = (await t.server.identity.trustPolicies.list()).slice(-1);
        ok(await json('PATCH', `/api/v1/iam/identities/${last!.id}`, { max_ttl_seconds: 300 }, admin()));
      },
    },
    'DELETE /api/v1/iam/identities/:id': {
      expect: ['dev.palisade.iam.identity.deleted.v1'],
      run: async () => {
        const [last] = (await t.server.identity.trustPolicies.list()).slice(-1);
        ok(
          await app().inject({
            method: 'DELETE',
            url: `/api/v1/iam/identities/${last!.id}`,
            headers: admin(),
          }),
        );
      },
    },
    // The sink is never contacted here (the delivery worker does not run in these tests).
    'POST /api/v1/events/subscriptions': {
      expect: ['dev.palisade.events.subscription.created.v1'],
      run: async () =>
        ok(
          await json(
            'POST',
            '/api/v1/events/subscriptions',
            { org: 'acme', sink_url: 'http://127.0.0.1:9/hook' },
            admin(),
          ),
        ),
    },
    'POST /api/v1/events/subscriptions/:id/redeliver': {
      expect: ['dev.palisade.events.subscription.redelivered.v1'],
      run: async () => {
        const [first] = (await t.server.subscriptions.list()).slice(-1);
        ok(
          await json('POST', `/api/v1/events/subscriptions/${first!.id}/redeliver`, { from_seq: 1 }, admin()),
        );
      },
    },
    'DELETE /api/v1/events/subscriptions/:id': {
      expect: ['dev.palisade.events.subscription.deleted.v1'],
      run: async () => {
        const [first] = (await t.server.subscriptions.list()).slice(-1);
        ok(
          await app().inject({
            method: 'DELETE',
            url: `/api/v1/events/subscriptions/${first!.id}`,
            headers: admin(),
          }),
        );
      },
    },
  };

  it('has an event case for every mutating route, and each emits its events', async () => {
    const mutating = [
      ...t.server.routes
        .filter(
          (r) =>
            r.capability !== 'dispatch' &&
            r.method !== 'HEAD' &&
            (r.method !== 'GET' || MUTATING_GETS.has(`GET ${r.url}`)),
        )
        .map((r) => `${r.method} ${r.url}`),
      ...registryRoutes({
        service: t.server.registry,
        authorizer: t.server.identity.authorizer,
        metrics: t.server.metrics,
      }).flatMap((r) => r.methods.filter((m) => !['GET', 'HEAD'].includes(m)).map((m) => `${m} v2:${r.id}`)),
    ];
    const uncovered = [...new Set(mutating)].filter((key) => !(key in cases) && !TRANSIENT.has(key));
    expect(uncovered, 'mutating routes without an audit case').toEqual([]);
    for (const [key, c] of Object.entries(cases)) {
      // Events of work done outside a request (PostgreSQL chains them after commit) are in the
      // log before the case starts, and the case's own before it is read.
      await t.server.audit.settle();
      const head = (await store.head(store.db)).seq;
      const from = await c.run();
      await t.server.audit.settle();
      const since = typeof from === 'number' ? from : head;
      const added = await store.list(store.db, { afterSeq: since }, 1000);
      const types = added.map((e) => e.type);
      for (const type of c.expect) expect(types, key).toContain(type);
      // Events of a request name its caller (a route that records outside the audit scope would
      // fall back to the system as actor).
      for (const event of added) expect(event.actor, `${key}: ${event.type}`).not.toBe('system:palisade');
    }
    expect((await verifyStored(store)).ok).toBe(true);
  });

  it('writes valid CloudEvents with the actor, their original identity and the request — and no secrets', async () => {
    const user = await createUser(t, { bindings: [{ role: 'pusher', organization: 'acme' }] });
    const before = (await store.head(store.db)).seq;
    const res = await app().inject({
      method: 'POST',
      url: v2(`acme/app/blobs/uploads/?digest=${digestOf(Buffer.from('x'))}`),
      headers: {
        authorization: `Bearer ${user.token}`,
        'content-type': 'application/octet-stream',
        'user-agent': 'skopeo/1.9',
        'x-request-id': 'trace-42',
      },
      payload: Buffer.from('x'),
    });
    expect(res.statusCode).toBe(201);
    const [row] = await store.list(store.db, { afterSeq: before }, 10);
    const event = JSON.parse(row!.event) as Record<string, unknown> & { data: Record<string, unknown> };
    const ajv = new Ajv({ strict: false });
    // ajv-formats is CommonJS with a default export: under NodeNext the function sits on .default.
    (formats as unknown as { default: (a: Ajv) => void }).default(ajv);
    const schema = JSON.parse(
      readFileSync(new URL('../../test/fixtures/cloudevents-1.0.schema.json', import.meta.url), 'utf8'),
    ) as object;
    expect(ajv.validate(schema, event), JSON.stringify(ajv.errors)).toBe(true);
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'dev.palisade.registry.blob.pushed.v1',
      source: `${ORIGIN}/v2/acme/app/blobs/uploads/`,
      subject: `acme/app@${digestOf(Buffer.from('x'))}`,
      datacontenttype: 'application/json',
      actor: user.subject,
      org: 'acme',
    });
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(event.data).toMatchObject({
      actor: {
        subject: user.subject,
        kind: 'user',
        act: { iss: ORIGIN, sub: user.subject, amr: ['hwk', 'user', 'mfa'] },
      },
      request: { id: 'trace-42', ip: '127.0.0.1', user_agent: 'skopeo/1.9' },
      outcome: 'success',
      body: { repository: 'acme/app', size: 1 },
    });
    // No event anywhere holds a credential Palisade handed out.
    const all = (await store.list(store.db, {}, 100_000)).map((e) => e.event).join('\n');
    expect(all).not.toContain(t.adminToken);
    expect(all).not.toContain(user.token);
    expect(all).not.toContain(idp.clientSecret);
    expect(all).not.toContain(session.cookie.split('=')[1]!);
    const token = decodePayload<{ jti: string }>(t.adminToken);
    expect(token.jti).toEqual(expect.any(String));
  });

  it('keeps change and event together: a rolled-back transaction leaves neither', async () => {
    const before = await store.head(store.db);
    await expect(
      t.server.registry.store.transaction(async (trx) => {
        await t.server.identity.audit.record(trx, {
          type: 'dev.palisade.registry.repository.created.v1',
          subject: 'acme/ghost',
        });
        await t.server.registry.store.ensureRepository(trx, 'acme/ghost', Date.now());
        throw new Error('boom after both writes');
      }),
    ).rejects.toThrow('boom');
    expect(await store.head(store.db)).toEqual(before);
    expect(await t.server.registry.store.repositoryExists(t.server.database.db, 'acme/ghost')).toBe(false);
    // A refused request (missing blob) writes no event either.
    const refused = await app().inject({
      method: 'PUT',
      url: v2('acme/app/manifests/bad'),
      headers: { ...admin(), 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      payload: imageManifest({ digest: digestOf(Buffer.from('missing')), size: 7 }, []),
    });
    expect(refused.statusCode).toBe(400);
    expect(await store.head(store.db)).toEqual(before);
  });

  it('keeps the chain whole under concurrent pushes', async () => {
    const before = (await store.head(store.db)).seq;
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        pushBlob(withHeaders(t, admin()), `acme/c${i % 3}`, randomBytes(64)),
      ),
    );
    const rows = await store.list(store.db, { afterSeq: before }, 1000);
    expect(rows.filter((r) => r.type === 'dev.palisade.registry.blob.pushed.v1')).toHaveLength(12);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => before + i + 1));
    expect((await verifyStored(store)).ok).toBe(true);
  });
});
