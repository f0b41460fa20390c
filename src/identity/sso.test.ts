// Company SSO against a real OpenID Provider (oidc-provider, started by the test as "the company
// IdP"): the authorization code flow with PKCE, state and nonce; sign-ins without MFA in amr, or
// with an acr outside the accepted list, are refused with a page that says what to ask the IdP
// administrator; users are keyed by (issuer, subject); the session records amr, acr, auth_time.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { mfaSatisfied } from './sso.js';
import { startTestIdp, throughIdp as follow, type TestIdp } from './test-idp.js';

const ORIGIN = 'http://palisade.test';
const throughIdp = (location: string, issuer: string) => follow(location, issuer, ORIGIN);

describe('what counts as multi-factor (RFC 8176 amr)', () => {
  it.each([
    [['mfa'], true],
    [['pwd', 'otp'], true],
    [['pwd', 'hwk'], true],
    [['hwk', 'fpt'], true],
    [['pwd'], false],
    [['otp'], false],
    [['pwd', 'kba'], false],
    [['hwk'], false],
    [[], false],
    ['mfa', false],
    [undefined, false],
  ])('%j → %s', (amr, expected) => expect(mfaSatisfied(amr)).toBe(expected));
});

describe.each(testDialects())('company SSO (%s)', (dialect) => {
  let t: TestServer;
  let idp: TestIdp;
  const app = () => t.server.app;
  const admin = () => ({ authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' });

  beforeAll(async () => {
    idp = await startTestIdp(`${ORIGIN}/sso/callback`);
    // Development mode: the test IdP is plain http on loopback.
    t = await startTestServer(dialect, { dev: true }, { asAdmin: false });
    const created = await app().inject({
      method: 'POST',
      url: '/api/v1/iam/idps',
      headers: admin(),
      payload: JSON.stringify({
        id: 'corp',
        display_name: 'Corp SSO',
        issuer: idp.issuer,
        client_id: idp.clientId,
        client_secret: idp.clientSecret,
        acr_values: ['urn:corp:mfa'],
        default_role: 'puller',
        default_organization: 'corp',
      }),
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ redirect_uri: `${ORIGIN}/sso/callback`, require_mfa: true });
    expect(created.body).not.toContain(idp.clientSecret);
  });
  afterAll(async () => {
    await t.dispose();
    await idp.close();
  });

  /** Drives a browser through start → IdP → callback; returns Palisade's callback response. */
  async function signIn(
    returnTo = '/account',
  ): Promise<{ callback: LightMyRequestResponse; authorizeUrl: URL }> {
    const start = await app().inject({
      method: 'GET',
      url: `/sso/corp/start?return_to=${encodeURIComponent(returnTo)}`,
    });
    expect(start.statusCode, start.body).toBe(303);
    const stateCookie = String(start.headers['set-cookie']).split(';')[0]!;
    const authorizeUrl = new URL(String(start.headers.location));
    const callback = await app().inject({
      method: 'GET',
      url: await throughIdp(authorizeUrl.href, idp.issuer),
      headers: { cookie: stateCookie },
    });
    return { callback, authorizeUrl };
  }

  it('shows the provider on the sign-in page', async () => {
    const page = await app().inject({ method: 'GET', url: '/signin?return_to=/device' });
    expect(page.body).toContain('href="/sso/corp/start?return_to=%2Fdevice"');
    expect(page.body).toContain('Sign in with Corp SSO');
  });

  it('signs in with MFA: PKCE, state, nonce and acr_values go out; the session keeps amr, acr, auth_time', async () => {
    idp.next = { accountId: 'alice', amr: ['pwd', 'otp'], acr: 'urn:corp:mfa' };
    const { callback, authorizeUrl } = await signIn('/account');
    expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorizeUrl.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorizeUrl.searchParams.get('state')).toBeTruthy();
    expect(authorizeUrl.searchParams.get('nonce')).toBeTruthy();
    expect(authorizeUrl.searchParams.get('acr_values')).toBe('urn:corp:mfa');
    expect(callback.statusCode, callback.body).toBe(303);
    expect(callback.headers.location).toBe('/account');
    const session = [callback.headers['set-cookie']]
      .flat()
      .find((c) => String(c).startsWith('palisade-session='))!;
    const cookie = String(session).split(';')[0]!;
    const account = await app().inject({ method: 'GET', url: '/account', headers: { cookie } });
    expect(account.statusCode).toBe(200);
    expect(account.body).toContain('alice (corp)');
    expect(account.body).toMatch(/pwd,\s*otp/);
    const row = await t.server.database.db
      .selectFrom('web_sessions')
      .selectAll()
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ acr: 'urn:corp:mfa', upstream_iss: idp.issuer, upstream_sub: 'alice' });
    expect(JSON.parse(row.amr)).toEqual(['pwd', 'otp']);
    expect(row.auth_time).toBeGreaterThan(0);
    // The provider's default role came with the new account.
    const identity = await t.server.database.db
      .selectFrom('user_identities')
      .selectAll()
      .where('subject', '=', 'alice')
      .executeTakeFirstOrThrow();
    const bindings = await t.server.database.db
      .selectFrom('role_bindings')
      .selectAll()
      .where('principal', '=', `user:${identity.user_id}`)
      .execute();
    expect(bindings.map((b) => [b.role, b.organization])).toEqual([['puller', 'corp']]);
  });

  it('refuses a sign-in whose ID token reports no MFA, and says what to ask the IdP administrator', async () => {
    const users = async () => (await t.server.database.db.selectFrom('users').select('id').execute()).length;
    const before = await users();
    idp.next = { accountId: 'bob', amr: ['pwd'], acr: 'urn:corp:mfa' };
    const { callback } = await signIn();
    expect(callback.statusCode).toBe(403);
    expect(callback.headers['content-type']).toContain('text/html');
    expect(callback.body).toContain('requires multi-factor authentication for Corp SSO');
    expect(callback.body).toContain('Ask your identity provider administrator');
    expect(
      [callback.headers['set-cookie']].flat().some((c) => String(c).startsWith('palisade-session=')),
    ).toBe(false);
    idp.next = { accountId: 'bob' };
    expect((await signIn()).callback.statusCode).toBe(403);
    expect(await users()).toBe(before);
  });

  it('refuses an acr outside the accepted list when the provider names one', async () => {
    await app().inject({
      method: 'POST',
      url: '/api/v1/iam/idps',
      headers: admin(),
      payload: JSON.stringify({
        id: 'strict',
        display_name: 'Strict',
        issuer: idp.issuer,
        client_id: idp.clientId,
        client_secret: idp.clientSecret,
        accepted_acr: ['urn:corp:mfa'],
      }),
    });
    const start = await app().inject({ method: 'GET', url: '/sso/strict/start' });
    expect(start.statusCode).toBe(303);
    // Same IdP, different policy: drive the flow through this provider.
    idp.next = { accountId: 'carol', amr: ['mfa'], acr: 'urn:corp:pwd' };
    const cookie = String(start.headers['set-cookie']).split(';')[0]!;
    const callback = await app().inject({
      method: 'GET',
      url: await throughIdp(String(start.headers.location), idp.issuer),
      headers: { cookie },
    });
    expect(callback.statusCode).toBe(403);
    expect(callback.body).toContain('only at assurance level urn:corp:mfa');
  });

  it('accepts only verified addresses in the allowed email domains when the provider lists some', async () => {
    await app().inject({
      method: 'POST',
      url: '/api/v1/iam/idps',
      headers: admin(),
      payload: JSON.stringify({
        id: 'domains',
        display_name: 'Domains',
        issuer: idp.issuer,
        client_id: idp.clientId,
        client_secret: idp.clientSecret,
        allowed_email_domains: ['corp.example'],
      }),
    });
    const attempt = async () => {
      const start = await app().inject({ method: 'GET', url: '/sso/domains/start' });
      const cookie = String(start.headers['set-cookie']).split(';')[0]!;
      return app().inject({
        method: 'GET',
        url: await throughIdp(String(start.headers.location), idp.issuer),
        headers: { cookie },
      });
    };
    idp.next = { accountId: 'mallory', amr: ['mfa'], email: 'mallory@corp.example.evil.test' };
    expect((await attempt()).body).toContain('accepted only for verified addresses at corp.example');
    idp.next = { accountId: 'mallory', amr: ['mfa'], email: 'mallory@corp.example', emailVerified: false };
    expect((await attempt()).statusCode).toBe(403);
    idp.next = { accountId: 'heidi', amr: ['mfa'], email: 'heidi@corp.example' };
    expect((await attempt()).statusCode).toBe(303);
  });

  it('keys people by issuer and subject, never by email', async () => {
    idp.next = { accountId: 'dave', amr: ['mfa'], email: 'shared@corp.example' };
    await signIn();
    idp.next = { accountId: 'erin', amr: ['mfa'], email: 'shared@corp.example' };
    await signIn();
    const rows = await t.server.database.db
      .selectFrom('user_identities')
      .selectAll()
      .where('email', '=', 'shared@corp.example')
      .execute();
    expect(rows.map((r) => r.subject).sort()).toEqual(['dave', 'erin']);
    expect(new Set(rows.map((r) => r.user_id)).size).toBe(2);
    idp.next = { accountId: 'dave', amr: ['mfa'] };
    await signIn();
    expect(
      (
        await t.server.database.db
          .selectFrom('user_identities')
          .selectAll()
          .where('subject', '=', 'dave')
          .execute()
      ).length,
    ).toBe(1);
  });

  it('refuses a callback without the state bound to this browser, or replayed', async () => {
    idp.next = { accountId: 'frank', amr: ['mfa'] };
    const start = await app().inject({ method: 'GET', url: '/sso/corp/start' });
    const state = new URL(String(start.headers.location)).searchParams.get('state')!;
    const forged = await app().inject({ method: 'GET', url: `/sso/callback?code=x&state=${state}` });
    expect(forged.statusCode).toBe(403);
    expect(forged.body).toContain('state mismatch');
    const { callback } = await signIn();
    expect(callback.statusCode).toBe(303);
  });

  it('accepts only https issuers outside development mode, and validates provider input', async () => {
    const prod = await startTestServer(dialect, {}, { asAdmin: false });
    try {
      const res = await prod.server.app.inject({
        method: 'POST',
        url: '/api/v1/iam/idps',
        headers: { authorization: `Bearer ${prod.adminToken}`, 'content-type': 'application/json' },
        payload: JSON.stringify({
          id: 'corp',
          display_name: 'Corp',
          issuer: idp.issuer,
          client_id: 'x',
          client_secret: 'y',
        }),
      });
      expect(res.statusCode).toBe(400);
      expect(res.body).toContain('must be https');
    } finally {
      await prod.dispose();
    }
    for (const bad of [
      {
        id: 'x',
        display_name: 'X',
        issuer: 'https://user:pw@idp.example',
        client_id: 'x',
        client_secret: 'y',
      },
      { id: 'x', display_name: 'X', issuer: 'https://idp.example?x=1', client_id: 'x', client_secret: 'y' },
      { id: 'x', display_name: 'X', issuer: 'https://idp.example', client_id: 'x' },
      { id: 'Bad Id', display_name: 'X', issuer: 'https://idp.example', client_id: 'x', client_secret: 'y' },
    ]) {
      const res = await app().inject({
        method: 'POST',
        url: '/api/v1/iam/idps',
        headers: admin(),
        payload: JSON.stringify(bad),
      });
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
    }
    const member = await app().inject({ method: 'GET', url: '/api/v1/iam/idps' });
    expect(member.statusCode).toBe(401);
  });

  it('signs in with private_key_jwt: the IdP knows only the public key Palisade published', async () => {
    const res = await app().inject({
      method: 'POST',
      url: '/api/v1/iam/idps',
      headers: admin(),
      payload: JSON.stringify({
        id: 'keyed',
        display_name: 'Keyed',
        issuer: 'http://127.0.0.1:1',
        client_id: 'palisade',
        auth_method: 'private_key_jwt',
      }),
    });
    const jwk = res.json<{ public_jwk: Record<string, string> }>().public_jwk;
    // A second IdP whose Palisade client authenticates with that key (no shared secret at all).
    const keyed = await startTestIdp(`${ORIGIN}/sso/callback`, {
      client_secret: undefined,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: { keys: [jwk] },
    });
    try {
      await t.server.database.db
        .updateTable('identity_providers')
        .set({ issuer: keyed.issuer })
        .where('id', '=', 'keyed')
        .execute();
      keyed.next = { accountId: 'grace', amr: ['mfa'] };
      const start = await app().inject({ method: 'GET', url: '/sso/keyed/start' });
      expect(start.statusCode, start.body).toBe(303);
      const cookie = String(start.headers['set-cookie']).split(';')[0]!;
      const callback = await app().inject({
        method: 'GET',
        url: await throughIdp(String(start.headers.location), keyed.issuer),
        headers: { cookie },
      });
      expect(callback.statusCode, callback.body).toBe(303);
    } finally {
      await keyed.close();
    }
  });

  it('offers private_key_jwt: Palisade makes the key pair and publishes only the public key', async () => {
    const res = await app().inject({
      method: 'POST',
      url: '/api/v1/iam/idps',
      headers: admin(),
      payload: JSON.stringify({
        id: 'pkjwt',
        display_name: 'PK',
        issuer: 'https://idp.example',
        client_id: 'x',
        auth_method: 'private_key_jwt',
      }),
    });
    expect(res.statusCode, res.body).toBe(201);
    const jwk = res.json<{ public_jwk: Record<string, string> }>().public_jwk;
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', kid: 'pkjwt-1' });
    expect(jwk).not.toHaveProperty('d');
    const published = await app().inject({ method: 'GET', url: '/sso/pkjwt/jwks.json' });
    expect(published.json()).toEqual({ keys: [jwk] });
  });
});
