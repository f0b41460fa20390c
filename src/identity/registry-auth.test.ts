// Registry authentication and authorisation end to end through the HTTP edge: the Docker token
// flow (challenge → /token → bearer), RBAC intersection at /token, roles on access tokens,
// public repositories, and every kind of forged, expired or misdirected token. Each refusal is a
// clear 401/403 and leaves every stored row and file as it was.
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { pushBlob, pushImage, snapshot } from '../registry/test-helpers.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import {
  adminClaims,
  basic,
  createUser,
  decodePayload,
  signWithForeignKey,
  signWithServerKey,
  withHeaders,
  type TestUser,
} from './test-helpers.js';

interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

describe.each(testDialects())('registry token auth (%s)', (dialect) => {
  let t: TestServer;
  let puller: TestUser;
  let pusher: TestUser;
  let repoPusher: TestUser;
  const app = () => t.server.app;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    t = await startTestServer(dialect, {}, { asAdmin: false });
    const admin = { authorization: `Bearer ${t.adminToken}` };
    // Content to read: acme/app and acme/lib (private), other/app (private), open/app (public).
    for (const repo of ['acme/app', 'acme/lib', 'other/app', 'open/app']) {
      const image = await pushImage(withHeaders(t, admin), repo, 'v1');
      expect(image.digest).toMatch(/^sha256:/);
    }
    await t.server.identity.store.setPublic(t.server.database.db, 'open/app', true, Date.now());
    puller = await createUser(t, { bindings: [{ role: 'puller', organization: 'acme' }] });
    pusher = await createUser(t, { bindings: [{ role: 'pusher', organization: 'acme' }] });
    repoPusher = await createUser(t, { bindings: [{ role: 'pusher', repository: 'acme/app' }] });
  });
  afterAll(async () => t.dispose());

  const getToken = async (query: string, authorization?: string): Promise<TokenResponse> => {
    const res = await app().inject({
      method: 'GET',
      url: `/token?service=palisade&${query}`,
      headers: authorization ? { authorization } : {},
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<TokenResponse>();
  };
  const accessOf = (token: string) => decodePayload<{ access: unknown[] }>(token).access;

  it('challenges anonymous callers with the Docker token realm, service and scope', async () => {
    const base = await app().inject({ method: 'GET', url: '/v2/' });
    expect(base.statusCode).toBe(401);
    expect(base.headers['www-authenticate']).toBe(
      'Bearer realm="http://palisade.test/token",service="palisade"',
    );
    const manifest = await app().inject({ method: 'GET', url: '/v2/acme/app/manifests/v1' });
    expect(manifest.statusCode).toBe(401);
    expect(manifest.json<{ errors: { code: string }[] }>().errors[0]!.code).toBe('UNAUTHORIZED');
    expect(manifest.headers['www-authenticate']).toBe(
      'Bearer realm="http://palisade.test/token",service="palisade",scope="repository:acme/app:pull"',
    );
    const push = await app().inject({ method: 'POST', url: '/v2/acme/app/blobs/uploads/' });
    expect(push.headers['www-authenticate']).toContain('scope="repository:acme/app:pull,push"');
    const catalog = await app().inject({ method: 'GET', url: '/v2/_catalog' });
    expect(catalog.headers['www-authenticate']).toContain('scope="registry:catalog:*"');
  });

  it('runs the token flow: Basic with an access token at /token, then the registry token as Bearer', async () => {
    const issued = await getToken('scope=repository:acme/app:pull,push', basic(pusher.token));
    expect(issued.token).toBe(issued.access_token);
    expect(issued.expires_in).toBeGreaterThan(0);
    expect(issued.expires_in).toBeLessThanOrEqual(900);
    const claims = decodePayload<Record<string, unknown>>(issued.token);
    expect(claims).toMatchObject({
      iss: 'http://palisade.test',
      sub: pusher.subject,
      aud: 'palisade',
      access: [{ type: 'repository', name: 'acme/app', actions: ['pull', 'push'] }],
      amr: ['hwk', 'user', 'mfa'],
    });
    expect(claims.jti).toEqual(expect.any(String));
    expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(3600);

    expect(
      (await app().inject({ method: 'GET', url: '/v2/', headers: bearer(issued.token) })).statusCode,
    ).toBe(200);
    const layer = await pushBlob(withHeaders(t, bearer(issued.token)), 'acme/app', randomBytes(64));
    expect(layer).toMatch(/^sha256:/);
    // The token names acme/app only: acme/lib is out of its reach even though the role would allow it.
    const other = await app().inject({
      method: 'POST',
      url: '/v2/acme/lib/blobs/uploads/',
      headers: bearer(issued.token),
    });
    expect(other.statusCode).toBe(401);
    expect(other.headers['www-authenticate']).toContain('error="insufficient_scope"');
  });

  it('grants exactly the intersection of the requested scope and the caller’s roles', async () => {
    const cases: [TestUser, string, unknown[]][] = [
      [
        puller,
        'scope=repository:acme/app:pull,push',
        [{ type: 'repository', name: 'acme/app', actions: ['pull'] }],
      ],
      [puller, 'scope=repository:acme/app:push,delete', []],
      [puller, 'scope=repository:other/app:pull', []],
      [puller, 'scope=repository:acme/app:*', [{ type: 'repository', name: 'acme/app', actions: ['pull'] }]],
      [
        pusher,
        'scope=repository:acme/app:*',
        [{ type: 'repository', name: 'acme/app', actions: ['pull', 'push'] }],
      ],
      [pusher, 'scope=registry:catalog:*', []],
      [
        repoPusher,
        'scope=repository:acme/app:push&scope=repository:acme/lib:pull,push',
        [{ type: 'repository', name: 'acme/app', actions: ['push'] }],
      ],
      // A repository named like the organization is not the organization.
      [repoPusher, 'scope=repository:acme:pull', []],
      [
        puller,
        'scope=repository:acme/app:pull,pull,PULL,admin',
        [{ type: 'repository', name: 'acme/app', actions: ['pull'] }],
      ],
    ];
    for (const [user, query, expected] of cases) {
      expect(accessOf((await getToken(query, basic(user.token))).token), query).toEqual(expected);
    }
  });

  it('refuses wildcard and malformed scopes with a 400 that says what is wrong', async () => {
    for (const scope of [
      'repository:acme/*:pull',
      'repository:*:push',
      'repository:ACME/app:pull',
      'repository:../x:pull',
      'nonsense',
    ]) {
      const res = await app().inject({
        method: 'GET',
        url: `/token?service=palisade&scope=${encodeURIComponent(scope)}`,
        headers: { authorization: basic(pusher.token) },
      });
      expect(res.statusCode, scope).toBe(400);
      expect(res.json<{ error: string; error_description: string }>()).toMatchObject({
        error: 'invalid_request',
      });
    }
    const wrongService = await app().inject({
      method: 'GET',
      url: '/token?service=elsewhere&scope=repository:acme/app:pull',
      headers: { authorization: basic(pusher.token) },
    });
    expect(wrongService.statusCode).toBe(400);
    expect(wrongService.json<{ error_description: string }>().error_description).toContain('palisade');
  });

  it('enforces role bindings on access tokens used directly: pull yes, push 403, other org 403', async () => {
    expect(
      (await app().inject({ method: 'GET', url: '/v2/acme/app/manifests/v1', headers: bearer(puller.token) }))
        .statusCode,
    ).toBe(200);
    const before = await snapshot(t);
    const push = await app().inject({
      method: 'POST',
      url: '/v2/acme/app/blobs/uploads/',
      headers: bearer(puller.token),
    });
    expect(push.statusCode).toBe(403);
    expect(push.json<{ errors: { code: string; message: string }[] }>().errors[0]).toMatchObject({
      code: 'DENIED',
      message: expect.stringContaining('role binding'),
    });
    const del = await app().inject({
      method: 'DELETE',
      url: '/v2/acme/app/manifests/v1',
      headers: bearer(pusher.token),
    });
    expect(del.statusCode).toBe(403);
    const elsewhere = await app().inject({
      method: 'GET',
      url: '/v2/other/app/manifests/v1',
      headers: bearer(pusher.token),
    });
    expect(elsewhere.statusCode).toBe(403);
    expect(
      (await app().inject({ method: 'GET', url: '/v2/_catalog', headers: bearer(pusher.token) })).statusCode,
    ).toBe(403);
    expect(
      (await app().inject({ method: 'GET', url: '/metrics', headers: bearer(pusher.token) })).statusCode,
    ).toBe(403);
    expect(await snapshot(t)).toBe(before);
  });

  it('lets anyone pull a repository an admin made public, and nothing else', async () => {
    const anonymous = await getToken('scope=repository:open/app:pull,push&scope=repository:acme/app:pull');
    expect(accessOf(anonymous.token)).toEqual([{ type: 'repository', name: 'open/app', actions: ['pull'] }]);
    expect(decodePayload<{ sub: string }>(anonymous.token).sub).toBe('anonymous');
    expect(
      (
        await app().inject({
          method: 'GET',
          url: '/v2/open/app/manifests/v1',
          headers: bearer(anonymous.token),
        })
      ).statusCode,
    ).toBe(200);
    expect((await app().inject({ method: 'GET', url: '/v2/open/app/manifests/v1' })).statusCode).toBe(200);
    const before = await snapshot(t);
    expect(
      (
        await app().inject({
          method: 'POST',
          url: '/v2/open/app/blobs/uploads/',
          headers: bearer(anonymous.token),
        })
      ).statusCode,
    ).toBe(401);
    expect(
      (
        await app().inject({
          method: 'GET',
          url: '/v2/acme/app/manifests/v1',
          headers: bearer(anonymous.token),
        })
      ).statusCode,
    ).toBe(401);
    expect(await snapshot(t)).toBe(before);
  });

  it('speaks the OAuth2 form variant of /token (password grant carrying an access token)', async () => {
    const form = (body: Record<string, string>) =>
      app().inject({
        method: 'POST',
        url: '/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams(body).toString(),
      });
    const ok = await form({
      grant_type: 'password',
      username: 'x',
      password: pusher.token,
      service: 'palisade',
      scope: 'repository:acme/app:pull,push',
      client_id: 'test',
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({
      token_type: 'Bearer',
      scope: 'repository:acme/app:pull,push',
      expires_in: expect.any(Number),
    });
    expect(ok.headers['cache-control']).toBe('no-store');
    const refresh = await form({ grant_type: 'refresh_token', refresh_token: 'x' });
    expect(refresh.statusCode).toBe(400);
    expect(refresh.json()).toMatchObject({ error: 'unsupported_grant_type' });
    expect((await form({})).json()).toMatchObject({ error: 'invalid_request' });
    const bad = await form({
      grant_type: 'password',
      username: 'x',
      password: 'not-a-token',
      service: 'palisade',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('never issues a registry token that outlives the access token it was traded for', async () => {
    const short = await t.server.identity.tokens.mintAccessToken({
      subject: pusher.subject,
      scope: ['registry'],
      ttlSeconds: 30,
    });
    const issued = await getToken('scope=repository:acme/app:pull', basic(short.token));
    const claims = decodePayload<{ exp: number }>(issued.token);
    expect(claims.exp).toBeLessThanOrEqual(short.expiresAt);
  });

  describe('refuses forged, expired and misdirected tokens (401, nothing changed)', () => {
    const attempts: [string, (t: TestServer) => Promise<string>][] = [
      ['alg none', (t) => Promise.resolve(unsigned({ alg: 'none', typ: 'at+jwt' }, adminClaims(t)))],
      [
        'HS256 keyed with the published public key',
        async (t) => {
          const jwks = (await t.server.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<{
            keys: { kid: string }[];
          }>();
          const publicJwk = JSON.stringify(jwks.keys[0]);
          return new SignJWT(adminClaims(t))
            .setProtectedHeader({ alg: 'HS256', kid: jwks.keys[0]!.kid, typ: 'at+jwt' })
            .sign(new TextEncoder().encode(publicJwk));
        },
      ],
      ['unknown kid', (t) => signWithForeignKey(adminClaims(t), 'made-up-kid')],
      [
        'a known kid but another key',
        async (t) => signWithForeignKey(adminClaims(t), (await t.server.identity.keys.signingKey()).kid),
      ],
      ['wrong issuer', (t) => signWithServerKey(t, adminClaims(t, { iss: 'https://evil.example' }))],
      ['wrong audience', (t) => signWithServerKey(t, adminClaims(t, { aud: 'https://other.example' }))],
      [
        'a registry token for another service',
        (t) =>
          signWithServerKey(
            t,
            adminClaims(t, {
              aud: 'other-registry',
              access: [{ type: 'repository', name: 'acme/app', actions: ['pull', 'push'] }],
            }),
            { typ: 'JWT' },
          ),
      ],
      [
        'expired',
        (t) =>
          signWithServerKey(t, adminClaims(t, { iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600 })),
      ],
      ['not yet valid', (t) => signWithServerKey(t, adminClaims(t, { nbf: now() + 600, exp: now() + 1200 }))],
      ['lifetime over one hour', (t) => signWithServerKey(t, adminClaims(t, { exp: now() + 7200 }))],
      ['no expiry', (t) => signWithServerKey(t, adminClaims(t, { exp: undefined }))],
      [
        'tampered payload',
        (t) => {
          const [h, , s] = t.adminToken.split('.');
          const claims = { ...decodePayload(t.adminToken), sub: 'user:someone-else' };
          return Promise.resolve(`${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`);
        },
      ],
      [
        'tampered signature',
        (t) => {
          const [h, p, s] = t.adminToken.split('.');
          const bytes = Buffer.from(s!, 'base64url');
          bytes[5] = bytes[5]! ^ 0xff;
          return Promise.resolve(`${h}.${p}.${bytes.toString('base64url')}`);
        },
      ],
      ['an access token without typ at+jwt', (t) => signWithServerKey(t, adminClaims(t), { typ: 'JWT' })],
      ['an unknown subject', (t) => signWithServerKey(t, adminClaims(t, { sub: 'root' }))],
      ['garbage', () => Promise.resolve('not.a.jwt')],
    ];
    for (const [name, make] of attempts) {
      it(name, async () => {
        const token = await make(t);
        const before = await snapshot(t);
        const direct = await app().inject({
          method: 'POST',
          url: '/v2/acme/app/blobs/uploads/',
          headers: bearer(token),
        });
        expect(direct.statusCode).toBe(401);
        expect(direct.json<{ errors: { code: string; message: string }[] }>().errors[0]).toMatchObject({
          code: 'UNAUTHORIZED',
          message: expect.stringMatching(/^invalid token: /),
        });
        expect(direct.headers['www-authenticate']).toContain('error="invalid_token"');
        const exchanged = await app().inject({
          method: 'GET',
          url: '/token?service=palisade&scope=repository:acme/app:push',
          headers: { authorization: basic(token) },
        });
        expect(exchanged.statusCode).toBe(401);
        expect(exchanged.json<{ errors: { code: string }[] }>().errors[0]!.code).toBe('UNAUTHORIZED');
        expect(await snapshot(t)).toBe(before);
      });
    }
  });

  it('refuses a registry token as the password at /token (no refreshing forever)', async () => {
    const issued = await getToken('scope=repository:acme/app:pull', basic(pusher.token));
    const res = await app().inject({
      method: 'GET',
      url: '/token?service=palisade&scope=repository:acme/app:pull',
      headers: { authorization: basic(issued.token) },
    });
    expect(res.statusCode).toBe(401);
  });

  it('refuses tokens of disabled users and revoked tokens', async () => {
    const disabled = await createUser(t, {
      disabled: true,
      bindings: [{ role: 'puller', organization: 'acme' }],
    });
    const res = await app().inject({
      method: 'GET',
      url: '/v2/acme/app/manifests/v1',
      headers: bearer(disabled.token),
    });
    expect(res.statusCode).toBe(401);
    const user = await createUser(t, { bindings: [{ role: 'puller', organization: 'acme' }] });
    expect(
      (await app().inject({ method: 'GET', url: '/v2/acme/app/manifests/v1', headers: bearer(user.token) }))
        .statusCode,
    ).toBe(200);
    await t.server.identity.tokens.revoke(decodePayload<{ jti: string; exp: number }>(user.token));
    const revoked = await app().inject({
      method: 'GET',
      url: '/v2/acme/app/manifests/v1',
      headers: bearer(user.token),
    });
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json<{ errors: { message: string }[] }>().errors[0]!.message).toContain('revoked');
  });
});

describe('verified-token cache', () => {
  it('reuses a verification for at most 10 s; a revocation made elsewhere applies after that', async () => {
    const t = await startTestServer('sqlite', {}, { asAdmin: false });
    try {
      const user = await createUser(t, { bindings: [{ role: 'puller', organization: 'acme' }] });
      const get = () =>
        t.server.app.inject({
          method: 'GET',
          url: '/v2/',
          headers: { authorization: `Bearer ${user.token}` },
        });
      expect((await get()).statusCode).toBe(200);
      // Another replica revokes the token: this one learns it from the database, not a callback.
      const { jti, exp } = decodePayload<{ jti: string; exp: number }>(user.token);
      await t.server.database.db
        .insertInto('revoked_tokens')
        .values({ jti, expires_at: exp * 1000 })
        .execute();
      expect((await get()).statusCode).toBe(200);
      const later = Date.now() + 10_001;
      vi.spyOn(Date, 'now').mockReturnValue(later);
      expect((await get()).statusCode).toBe(401);
    } finally {
      vi.restoreAllMocks();
      await t.dispose();
    }
  });
});

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function unsigned(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part(header)}.${part(claims)}.`;
}
