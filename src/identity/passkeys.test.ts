// People signing in without passwords, through the HTTP edge with a software authenticator:
// bootstrap link, enrollment, passkey sign-in, more passkeys, sessions and their time-outs,
// CSRF and Origin checks, rate limits — and the refusals: reused or expired links, replayed or
// rewound assertions, no user verification, wrong origin. Refusals change nothing stored.
import { Writable } from 'node:stream';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { snapshot } from '../registry/test-helpers.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { SoftAuthenticator } from './test-authenticator.js';

const ORIGIN = 'http://palisade.test';

describe.each(testDialects())('passkeys and sessions (%s)', (dialect) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(dialect, {}, { asAdmin: false });
  });
  afterAll(async () => t.dispose());
  const app = () => t.server.app;

  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    app().inject({
      method: 'POST',
      url,
      headers: { origin: ORIGIN, 'content-type': 'application/json', ...headers },
      payload: JSON.stringify(body),
    });
  const cookieOf = (res: LightMyRequestResponse): string => {
    const header = res.headers['set-cookie'];
    const value = Array.isArray(header) ? header[0]! : header!;
    return value.split(';')[0]!;
  };
  const errorOf = (res: LightMyRequestResponse) =>
    res.json<{ errors: { code: string; message: string }[] }>().errors[0]!;

  async function enroll(authenticator: SoftAuthenticator, link?: string, name = 'Ada') {
    const token = link ?? (await t.server.identity.passkeys.createEnrollmentLink({ makeAdmin: true })).token;
    const options = await post('/auth/enroll/options', { token, displayName: name });
    expect(options.statusCode, options.body).toBe(200);
    const { ceremony, options: creation } = options.json<{
      ceremony: string;
      options: { challenge: string; rp: { id: string }; user: { id: string } };
    }>();
    return post('/auth/enroll/verify', {
      ceremony,
      response: authenticator.register(creation),
      displayName: name,
    });
  }

  async function signIn(authenticator: SoftAuthenticator, bad = {}, returnTo?: string) {
    const options = await post('/auth/passkey/options', {});
    const { ceremony, options: request } = options.json<{
      ceremony: string;
      options: { challenge: string; rpId: string };
    }>();
    return post('/auth/passkey/verify', {
      ceremony,
      response: authenticator.authenticate(request, bad),
      ...(returnTo ? { returnTo } : {}),
    });
  }

  it('enrolls the first administrator through a one-time link and starts a session', async () => {
    const key = new SoftAuthenticator(ORIGIN);
    const res = await enroll(key);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ redirect: '/account' });
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/^palisade-session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Lax');
    expect(setCookie).toContain('Path=/');
    const account = await app().inject({
      method: 'GET',
      url: '/account',
      headers: { cookie: cookieOf(res) },
    });
    expect(account.statusCode).toBe(200);
    expect(account.body).toContain('Ada');
    expect(account.body).toContain('administrator');
    expect(account.body).toContain('hwk, user, mfa');
    const csp = String(account.headers['content-security-policy']);
    for (const directive of [
      "script-src 'self'",
      "require-trusted-types-for 'script'",
      "frame-ancestors 'none'",
      "default-src 'none'",
    ]) {
      expect(csp).toContain(directive);
    }
    expect(account.body).not.toMatch(/<script>|<style>|style="|onclick=/);
    expect(await t.server.identity.store.countAdmins(t.server.database.db)).toBeGreaterThanOrEqual(1);
  });

  it('refuses a reused or expired enrollment link, changing nothing', async () => {
    const link = await t.server.identity.passkeys.createEnrollmentLink({ makeAdmin: true });
    expect((await enroll(new SoftAuthenticator(ORIGIN), link.token)).statusCode).toBe(200);
    const before = await snapshot(t);
    const reused = await post('/auth/enroll/options', { token: link.token, displayName: 'Mallory' });
    expect(reused.statusCode).toBe(400);
    expect(errorOf(reused)).toMatchObject({
      code: 'PALISADE_ENROLLMENT_INVALID',
      message: expect.stringContaining('palisade admin enroll'),
    });
    const old = await t.server.identity.passkeys.createEnrollmentLink({
      makeAdmin: true,
      now: Date.now() - 16 * 60_000,
    });
    const expired = await post('/auth/enroll/options', { token: old.token, displayName: 'Mallory' });
    expect(errorOf(expired).code).toBe('PALISADE_ENROLLMENT_INVALID');
    expect(
      errorOf(await post('/auth/enroll/options', { token: 'x'.repeat(43), displayName: 'M' })).code,
    ).toBe('PALISADE_ENROLLMENT_INVALID');
    // The bookkeeping row of an expired link is the only thing allowed to differ.
    const rows = await t.server.database.db.selectFrom('users').select('id').execute();
    expect(rows.length).toBe(JSON.parse(before).rows.users.length);
  });

  it('a link used by two registrations at once creates one account only', async () => {
    const link = await t.server.identity.passkeys.createEnrollmentLink({ makeAdmin: false });
    const a = new SoftAuthenticator(ORIGIN);
    const b = new SoftAuthenticator(ORIGIN);
    const startA = (await post('/auth/enroll/options', { token: link.token, displayName: 'A' })).json<{
      ceremony: string;
      options: never;
    }>();
    const startB = (await post('/auth/enroll/options', { token: link.token, displayName: 'B' })).json<{
      ceremony: string;
      options: never;
    }>();
    const users = async () => (await t.server.database.db.selectFrom('users').select('id').execute()).length;
    const before = await users();
    const results = await Promise.all([
      post('/auth/enroll/verify', {
        ceremony: startA.ceremony,
        response: a.register(startA.options),
        displayName: 'A',
      }),
      post('/auth/enroll/verify', {
        ceremony: startB.ceremony,
        response: b.register(startB.options),
        displayName: 'B',
      }),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 400]);
    expect(await users()).toBe(before + 1);
  });

  it('signs in with a passkey, honours only same-site return paths, and names no account on failure', async () => {
    const key = new SoftAuthenticator(ORIGIN);
    await enroll(key);
    const ok = await signIn(key, {}, '/account?tab=keys');
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toEqual({ redirect: '/account?tab=keys' });
    for (const evil of [
      '//evil.example/x',
      'https://evil.example',
      '/\\evil.example',
      'javascript:alert(1)',
      '/ok\nSet-Cookie: x',
    ]) {
      expect((await signIn(key, {}, evil)).json(), evil).toEqual({ redirect: '/account' });
    }
    const stranger = await signIn(new SoftAuthenticator(ORIGIN));
    const badSignature = await signIn(key, { origin: 'https://evil.example' });
    expect(stranger.statusCode).toBe(401);
    expect(badSignature.statusCode).toBe(401);
    expect(errorOf(stranger)).toEqual(errorOf(badSignature));
  });

  it('refuses replayed assertions, rewound counters (cloned keys) and missing user verification', async () => {
    const key = new SoftAuthenticator(ORIGIN);
    await enroll(key);
    const options = (await post('/auth/passkey/options', {})).json<{
      ceremony: string;
      options: { challenge: string };
    }>();
    const response = key.authenticate(options.options);
    expect((await post('/auth/passkey/verify', { ceremony: options.ceremony, response })).statusCode).toBe(
      200,
    );
    const before = await snapshot(t);
    const replay = await post('/auth/passkey/verify', { ceremony: options.ceremony, response });
    expect(errorOf(replay).code).toBe('PALISADE_CEREMONY_INVALID');
    const fresh = (await post('/auth/passkey/options', {})).json<{ ceremony: string }>();
    expect((await post('/auth/passkey/verify', { ceremony: fresh.ceremony, response })).statusCode).toBe(401);
    const rewound = await signIn(key, { counter: 1 });
    expect(rewound.statusCode).toBe(401);
    expect(errorOf(rewound).message).toContain('cloned');
    expect((await signIn(key, { userVerified: false })).statusCode).toBe(401);
    const noUv = new SoftAuthenticator(ORIGIN);
    const link = await t.server.identity.passkeys.createEnrollmentLink({ makeAdmin: false });
    const start = (await post('/auth/enroll/options', { token: link.token, displayName: 'X' })).json<{
      ceremony: string;
      options: never;
    }>();
    const refused = await post('/auth/enroll/verify', {
      ceremony: start.ceremony,
      response: noUv.register(start.options, { userVerified: false }),
      displayName: 'X',
    });
    expect(errorOf(refused).code).toBe('PALISADE_PASSKEY_INVALID');
    // Ceremonies were used up and one link row was added by this test itself; users and passkeys are unchanged.
    const after = JSON.parse(await snapshot(t)) as { rows: Record<string, unknown[]> };
    const was = JSON.parse(before) as { rows: Record<string, unknown[]> };
    expect(after.rows.users).toEqual(was.rows.users);
  });

  it('requires our Origin on every sign-in endpoint and the CSRF token once signed in', async () => {
    const noOrigin = await app().inject({
      method: 'POST',
      url: '/auth/passkey/options',
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(noOrigin.statusCode).toBe(403);
    expect(errorOf(noOrigin).code).toBe('PALISADE_CSRF');
    expect((await post('/auth/passkey/options', {}, { origin: 'https://evil.example' })).statusCode).toBe(
      403,
    );

    const key = new SoftAuthenticator(ORIGIN);
    const cookie = cookieOf(await enroll(key));
    const form = (url: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
      app().inject({
        method: 'POST',
        url,
        headers: { origin: ORIGIN, cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
        payload: new URLSearchParams(body).toString(),
      });
    expect((await form('/auth/signout', {})).statusCode).toBe(403);
    expect((await form('/auth/signout', { csrf: 'forged' })).statusCode).toBe(403);
    const account = await app().inject({ method: 'GET', url: '/account', headers: { cookie } });
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(account.body)![1]!;
    expect((await form('/auth/signout', { csrf }, { origin: 'https://evil.example' })).statusCode).toBe(403);
    const out = await form('/auth/signout', { csrf });
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/signin');
    const after = await app().inject({ method: 'GET', url: '/account', headers: { cookie } });
    expect(after.statusCode).toBe(303);
    expect(after.headers.location).toBe('/signin?return_to=%2Faccount');
  });

  it('manages several passkeys; the last one cannot be removed', async () => {
    const first = new SoftAuthenticator(ORIGIN);
    const cookie = cookieOf(await enroll(first));
    const account = await app().inject({ method: 'GET', url: '/account', headers: { cookie } });
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(account.body)![1]!;
    const headers = { cookie, 'x-csrf-token': csrf };
    const start = await post('/auth/passkeys/options', {}, headers);
    expect(start.statusCode, start.body).toBe(200);
    const { ceremony, options } = start.json<{
      ceremony: string;
      options: {
        challenge: string;
        rp: { id: string };
        user: { id: string };
        excludeCredentials: { id: string }[];
      };
    }>();
    expect(options.excludeCredentials.map((c) => c.id)).toEqual([first.id]);
    const second = new SoftAuthenticator(ORIGIN, { backedUp: true });
    const added = await post(
      '/auth/passkeys',
      { ceremony, response: second.register(options), name: 'phone' },
      headers,
    );
    expect(added.statusCode, added.body).toBe(201);
    expect((await signIn(second)).statusCode).toBe(200);
    const userId = (
      await t.server.database.db
        .selectFrom('passkeys')
        .select('user_id')
        .where('id', '=', first.id)
        .executeTakeFirstOrThrow()
    ).user_id;
    const listed = await t.server.identity.passkeys.list(userId);
    expect(listed.map((p) => [p.name, p.deviceType, p.backedUp])).toEqual([
      ['first passkey', 'singleDevice', false],
      ['phone', 'multiDevice', true],
    ]);
    const remove = (id: string) =>
      app().inject({
        method: 'POST',
        url: '/auth/passkeys/delete',
        headers: { origin: ORIGIN, cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ csrf, id }).toString(),
      });
    expect((await remove(first.id)).statusCode).toBe(303);
    expect((await signIn(first)).statusCode).toBe(401);
    const last = await remove(second.id);
    expect(last.statusCode).toBe(409);
    expect(errorOf(last).code).toBe('PALISADE_LAST_PASSKEY');
  });

  it('ends sessions after the idle and absolute time-outs, and everywhere at once', async () => {
    const key = new SoftAuthenticator(ORIGIN);
    await enroll(key);
    const a = cookieOf(await signIn(key));
    const b = cookieOf(await signIn(key));
    const { sessions } = t.server.identity;
    const id = a.split('=')[1]!;
    const now = Date.now();
    expect(await sessions.resolve(id, now)).toBeDefined();
    expect(await sessions.resolve(id, now + sessions.settings.idleMs - 1000)).toBeDefined();
    const idle = cookieOf(await signIn(key)).split('=')[1]!;
    expect(await sessions.resolve(idle, now + sessions.settings.idleMs + 1000)).toBeUndefined();
    const account = await app().inject({ method: 'GET', url: '/account', headers: { cookie: a } });
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(account.body)![1]!;
    const everywhere = await app().inject({
      method: 'POST',
      url: '/auth/signout-everywhere',
      headers: { origin: ORIGIN, cookie: a, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `csrf=${csrf}`,
    });
    expect(everywhere.statusCode).toBe(303);
    for (const cookie of [a, b])
      expect((await app().inject({ method: 'GET', url: '/account', headers: { cookie } })).statusCode).toBe(
        303,
      );
  });
});

describe('bootstrap and rate limits', () => {
  it('logs a one-time enrollment link at start when no administrator exists, and not otherwise', async () => {
    const lines: string[] = [];
    const logStream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const t = await startTestServer('sqlite', { logLevel: 'info' }, { asAdmin: false, logStream });
    try {
      await t.server.listen();
      const found = lines
        .map((l) => JSON.parse(l) as { enrollmentUrl?: string; msg: string })
        .filter((l) => l.enrollmentUrl);
      expect(found).toHaveLength(1);
      expect(found[0]!.enrollmentUrl).toMatch(/^http:\/\/palisade\.test\/enroll#[A-Za-z0-9_-]{43}$/);
      const secret = found[0]!.enrollmentUrl!.split('#')[1]!;
      const rows = await t.server.database.db.selectFrom('enrollment_tokens').selectAll().execute();
      expect(rows).toHaveLength(1);
      expect(JSON.stringify(rows)).not.toContain(secret);
      expect(rows[0]!.expires_at - rows[0]!.created_at).toBe(15 * 60_000);
    } finally {
      await t.dispose();
    }
    const seeded = await startTestServer('sqlite', { logLevel: 'info' }, { asAdmin: false, logStream });
    try {
      lines.length = 0;
      await seeded.server.identity.store.insertUser(seeded.server.database.db, {
        id: 'u1',
        display_name: 'x',
        email: null,
        is_admin: 1,
        created_at: 0,
        disabled_at: null,
      });
      await seeded.server.listen();
      expect(lines.some((l) => l.includes('enrollmentUrl'))).toBe(false);
    } finally {
      await seeded.dispose();
    }
  });

  it('holds back an account after 10 failed passkey sign-ins, whatever address they come from', async () => {
    const t = await startTestServer('sqlite', { identity: { rateLimitPerMinute: 1000 } }, { asAdmin: false });
    try {
      const post = (url: string, body: unknown, ip: string) =>
        t.server.app.inject({
          method: 'POST',
          url,
          remoteAddress: ip,
          headers: { origin: ORIGIN, 'content-type': 'application/json' },
          payload: JSON.stringify(body),
        });
      const key = new SoftAuthenticator(ORIGIN);
      const link = await t.server.identity.passkeys.createEnrollmentLink({ makeAdmin: true });
      const start = (
        await post('/auth/enroll/options', { token: link.token, displayName: 'V' }, '192.0.2.9')
      ).json<{ ceremony: string; options: never }>();
      expect(
        (
          await post(
            '/auth/enroll/verify',
            { ceremony: start.ceremony, response: key.register(start.options), displayName: 'V' },
            '192.0.2.9',
          )
        ).statusCode,
      ).toBe(200);
      const attempt = async (ip: string, bad: object) => {
        const options = (await post('/auth/passkey/options', {}, ip)).json<{
          ceremony: string;
          options: { challenge: string };
        }>();
        return post(
          '/auth/passkey/verify',
          { ceremony: options.ceremony, response: key.authenticate(options.options, bad) },
          ip,
        );
      };
      for (let i = 0; i < 10; i += 1)
        expect((await attempt(`198.51.100.${i}`, { userVerified: false })).statusCode).toBe(401);
      const held = await attempt('203.0.113.1', {});
      expect(held.statusCode).toBe(429);
      expect(held.json<{ errors: { code: string; message: string }[] }>().errors[0]).toMatchObject({
        code: 'PALISADE_RATE_LIMITED',
        message: expect.stringContaining('this account'),
      });
    } finally {
      await t.dispose();
    }
  });

  it('limits unauthenticated sign-in requests per client address with 429', async () => {
    const t = await startTestServer('sqlite', { identity: { rateLimitPerMinute: 5 } }, { asAdmin: false });
    try {
      const call = (ip: string) =>
        t.server.app.inject({
          method: 'POST',
          url: '/auth/passkey/options',
          remoteAddress: ip,
          headers: { origin: ORIGIN, 'content-type': 'application/json' },
          payload: '{}',
        });
      for (let i = 0; i < 5; i += 1) expect((await call('192.0.2.1')).statusCode).toBe(200);
      const limited = await call('192.0.2.1');
      expect(limited.statusCode).toBe(429);
      expect(limited.json<{ errors: { code: string }[] }>().errors[0]!.code).toBe('PALISADE_RATE_LIMITED');
      expect((await call('192.0.2.2')).statusCode).toBe(200);
    } finally {
      await t.dispose();
    }
  });
});
