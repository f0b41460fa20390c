// The device authorization grant and refresh tokens through the HTTP edge: a browser session
// approves or denies the code, the poller gets tokens exactly once (with the approval's sign-in
// facts), polling too fast slows down, refresh tokens rotate and a replay kills the family,
// revocation and "sign out everywhere" end everything. Refusals are OAuth errors.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { SoftAuthenticator } from './test-authenticator.js';
import { decodePayload, postForm, sendJson } from './test-helpers.js';

const ORIGIN = 'http://palisade.test';

describe.each(testDialects())('device flow and refresh tokens (%s)', (dialect) => {
  let t: TestServer;
  let admin: { cookie: string; csrf: string };
  let member: { cookie: string; csrf: string };
  const app = () => t.server.app;

  const json = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    sendJson(app(), 'POST', url, body, { origin: ORIGIN, ...headers });
  const form = (url: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
    postForm(app(), url, body, headers);
  const oauthError = (res: LightMyRequestResponse) =>
    res.json<{ error: string; error_description: string }>();

  /** Enrolls a user with a software passkey and returns a signed-in browser session. */
  async function browserUser(makeAdmin: boolean) {
    const key = new SoftAuthenticator(ORIGIN);
    const link = await t.server.identity.passkeys.createEnrollmentLink({ makeAdmin });
    const start = (
      await json('/auth/enroll/options', { token: link.token, displayName: makeAdmin ? 'Admin' : 'Member' })
    ).json<{ ceremony: string; options: never }>();
    const done = await json('/auth/enroll/verify', {
      ceremony: start.ceremony,
      response: key.register(start.options),
      displayName: 'x',
    });
    const cookie = String(done.headers['set-cookie']).split(';')[0]!;
    const account = await app().inject({ method: 'GET', url: '/account', headers: { cookie } });
    return { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(account.body)![1]! };
  }

  async function startDevice(scope = 'registry api') {
    const res = await form('/oauth/device_authorization', { client_id: 'palisade-cli', scope });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{
      device_code: string;
      user_code: string;
      verification_uri: string;
      verification_uri_complete: string;
      interval: number;
      expires_in: number;
    }>();
  }
  const poll = (deviceCode: string) =>
    form('/oauth/token', {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: deviceCode,
      client_id: 'palisade-cli',
    });
  const decide = (
    session: { cookie: string; csrf: string },
    userCode: string,
    decision: 'approve' | 'deny',
  ) =>
    form(
      '/device',
      { csrf: session.csrf, user_code: userCode, decision },
      { cookie: session.cookie, origin: ORIGIN },
    );

  beforeAll(async () => {
    t = await startTestServer(dialect, {}, { asAdmin: false });
    admin = await browserUser(true);
    member = await browserUser(false);
  });
  afterAll(async () => t.dispose());

  it('issues tokens once, after approval in a signed-in browser, carrying the passkey sign-in', async () => {
    const started = await startDevice();
    expect(started.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(started.verification_uri).toBe(`${ORIGIN}/device`);
    expect(started.verification_uri_complete).toBe(`${ORIGIN}/device?user_code=${started.user_code}`);
    expect(started).toMatchObject({ interval: 5, expires_in: 600 });

    expect(oauthError(await poll(started.device_code)).error).toBe('authorization_pending');
    const tooFast = await poll(started.device_code);
    expect(oauthError(tooFast).error).toBe('slow_down');

    const page = await app().inject({
      method: 'GET',
      url: `/device?user_code=${started.user_code.toLowerCase()}`,
      headers: { cookie: member.cookie },
    });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('palisade-cli');
    expect(page.body).toContain('registry api');
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const approved = await decide(member, started.user_code, 'approve');
    expect(approved.statusCode).toBe(200);
    expect(approved.body).toContain('Device signed in');

    await t.server.database.db.updateTable('device_grants').set({ last_polled_at: 0 }).execute();
    const issued = await poll(started.device_code);
    expect(issued.statusCode, issued.body).toBe(200);
    const body = issued.json<{
      access_token: string;
      refresh_token: string;
      expires_in: number;
      token_type: string;
      scope: string;
    }>();
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'registry api', expires_in: 900 });
    expect(issued.headers['cache-control']).toBe('no-store');
    const claims = decodePayload<Record<string, unknown>>(body.access_token);
    expect(claims).toMatchObject({
      client_id: 'palisade-cli',
      scope: 'registry api',
      amr: ['hwk', 'user', 'mfa'],
    });
    expect(claims.sub).toMatch(/^user:/);
    expect(typeof claims.auth_time).toBe('number');

    const again = await poll(started.device_code);
    expect(oauthError(again).error).toBe('invalid_grant');
    // The code is used up for the browser too.
    expect((await decide(member, started.user_code, 'approve')).statusCode).toBe(400);
  });

  it('denied codes answer access_denied; unknown codes and clients are refused clearly', async () => {
    const started = await startDevice();
    expect((await decide(member, started.user_code, 'deny')).body).toContain('denied');
    expect(oauthError(await poll(started.device_code)).error).toBe('access_denied');
    expect(oauthError(await poll('not-a-code')).error).toBe('invalid_grant');
    const badClient = await form('/oauth/device_authorization', { client_id: 'evil-app' });
    expect(badClient.statusCode).toBe(401);
    expect(oauthError(badClient).error).toBe('invalid_client');
    expect(
      oauthError(
        await form('/oauth/device_authorization', { client_id: 'palisade-cli', scope: 'registry root' }),
      ).error,
    ).toBe('invalid_scope');
    const unknown = await app().inject({
      method: 'GET',
      url: '/device?user_code=BBBB-BBBB',
      headers: { cookie: member.cookie },
    });
    expect(unknown.body).toContain('unknown, already used or expired');
    // Approving needs the session's CSRF token and our Origin.
    const next = await startDevice();
    expect(
      (
        await form(
          '/device',
          { user_code: next.user_code, decision: 'approve' },
          { cookie: member.cookie, origin: ORIGIN },
        )
      ).statusCode,
    ).toBe(403);
    expect(
      (
        await form(
          '/device',
          { csrf: member.csrf, user_code: next.user_code, decision: 'approve' },
          { cookie: member.cookie, origin: 'https://evil.example' },
        )
      ).statusCode,
    ).toBe(403);
    expect(oauthError(await poll(next.device_code)).error).toBe('authorization_pending');
    // Without a session the page sends people to sign in first, and brings them back.
    const anonymous = await app().inject({ method: 'GET', url: `/device?user_code=${next.user_code}` });
    expect(anonymous.statusCode).toBe(303);
    expect(anonymous.headers.location).toBe(
      `/signin?return_to=${encodeURIComponent(`/device?user_code=${next.user_code}`)}`,
    );
  });

  it('lets device codes expire', async () => {
    const oauth = t.server.identity.oauth;
    const started = await oauth.startDeviceAuthorization(
      'palisade-cli',
      'registry',
      Date.now() - 11 * 60_000,
    );
    await expect(oauth.pollDevice(started.device_code, 'palisade-cli')).rejects.toMatchObject({
      code: 'expired_token',
    });
  });

  async function loginTokens(session: { cookie: string; csrf: string }, scope = 'registry api') {
    const started = await startDevice(scope);
    await decide(session, started.user_code, 'approve');
    const res = await poll(started.device_code);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ access_token: string; refresh_token: string; scope: string }>();
  }
  const refresh = (token: string) =>
    form('/oauth/token', { grant_type: 'refresh_token', refresh_token: token, client_id: 'palisade-cli' });

  it('grants admin scope only to administrators', async () => {
    expect((await loginTokens(member, 'registry api admin')).scope).toBe('registry api');
    const tokens = await loginTokens(admin, 'registry api admin');
    expect(tokens.scope).toBe('registry api admin');
    expect(
      (
        await app().inject({
          method: 'GET',
          url: '/metrics',
          headers: { authorization: `Bearer ${tokens.access_token}` },
        })
      ).statusCode,
    ).toBe(200);
  });

  it('rotates refresh tokens; replaying a used one revokes the whole family', async () => {
    const first = await loginTokens(member);
    const second = await refresh(first.refresh_token);
    expect(second.statusCode, second.body).toBe(200);
    const rotated = second.json<{ refresh_token: string; access_token: string }>();
    expect(rotated.refresh_token).not.toBe(first.refresh_token);
    const replay = await refresh(first.refresh_token);
    expect(oauthError(replay).error).toBe('invalid_grant');
    // The thief's replay also ended the legitimate successor.
    expect(oauthError(await refresh(rotated.refresh_token)).error).toBe('invalid_grant');
  });

  it('lets refresh tokens die after the idle limit (at most 12 hours)', async () => {
    const tokens = await loginTokens(member);
    const oauth = t.server.identity.oauth;
    expect(oauth.settings.refreshIdleMs).toBeLessThanOrEqual(12 * 3600_000);
    await expect(
      oauth.refresh(tokens.refresh_token, 'palisade-cli', Date.now() + oauth.settings.refreshIdleMs + 1000),
    ).rejects.toMatchObject({ code: 'invalid_grant' });
  });

  it('revokes refresh and access tokens (RFC 7009) and signs out everywhere', async () => {
    const tokens = await loginTokens(member);
    expect((await form('/oauth/revoke', { token: tokens.refresh_token })).statusCode).toBe(200);
    expect(oauthError(await refresh(tokens.refresh_token)).error).toBe('invalid_grant');
    const bearer = { authorization: `Bearer ${tokens.access_token}` };
    expect((await app().inject({ method: 'GET', url: '/v2/', headers: bearer })).statusCode).toBe(200);
    expect((await form('/oauth/revoke', { token: tokens.access_token })).statusCode).toBe(200);
    expect((await app().inject({ method: 'GET', url: '/v2/', headers: bearer })).statusCode).toBe(401);
    expect((await form('/oauth/revoke', { token: 'garbage' })).statusCode).toBe(200);

    const other = await browserUser(false);
    const live = await loginTokens(other);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // tokens issued in an earlier second
    const out = await form(
      '/auth/signout-everywhere',
      { csrf: other.csrf },
      { cookie: other.cookie, origin: ORIGIN },
    );
    expect(out.statusCode).toBe(303);
    expect(oauthError(await refresh(live.refresh_token)).error).toBe('invalid_grant');
    expect(
      (
        await app().inject({
          method: 'GET',
          url: '/v2/',
          headers: { authorization: `Bearer ${live.access_token}` },
        })
      ).statusCode,
    ).toBe(401);
  });
});
