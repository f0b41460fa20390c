// Test helpers for identity: users with role bindings (until the IAM API exists they are made
// through the store), tokens for them, and forged tokens for the attack tests.
import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import type { InjectOptions } from 'fastify';
import type { TestServer } from '../server/test-server.js';
import type { Role } from './capabilities.js';
import { organizationOf } from './capabilities.js';

export interface TestUser {
  id: string;
  subject: string;
  /** An access token with scope "registry api" (plus "admin" for admins). */
  token: string;
}

export async function createUser(
  t: TestServer,
  options: {
    admin?: boolean;
    bindings?: { role: Role; organization?: string; repository?: string }[];
    disabled?: boolean;
  } = {},
): Promise<TestUser> {
  const { store, tokens } = t.server.identity;
  const id = randomUUID();
  const now = Date.now();
  await store.transaction(async (trx) => {
    await store.insertUser(trx, {
      id,
      display_name: `user ${id.slice(0, 8)}`,
      email: null,
      is_admin: options.admin ? 1 : 0,
      created_at: now,
      disabled_at: options.disabled ? now : null,
    });
    for (const binding of options.bindings ?? []) {
      const organization = binding.organization ?? organizationOf(binding.repository!);
      await store.ensureOrganization(trx, organization, now);
      await store.insertBinding(trx, {
        id: randomUUID(),
        principal: `user:${id}`,
        role: binding.role,
        organization,
        repository: binding.repository ?? '',
        created_at: now,
      });
    }
  });
  const scope = options.admin ? ['registry', 'api', 'admin'] : ['registry', 'api'];
  const minted = await tokens.mintAccessToken({
    subject: `user:${id}`,
    scope,
    authentication: { amr: ['hwk', 'user', 'mfa'] },
  });
  return { id, subject: `user:${id}`, token: minted.token };
}

/** Signs arbitrary claims and header with the server's own current signing key. */
export async function signWithServerKey(
  t: TestServer,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const { kid, key } = await t.server.identity.keys.signingKey();
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt', ...header }).sign(key);
}

/** Claims of a valid admin access token for this server, to be altered by a test. */
export function adminClaims(t: TestServer, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: t.server.identity.tokens.issuer,
    sub: 'system:break-glass',
    aud: t.server.identity.tokens.issuer,
    iat: now,
    nbf: now,
    exp: now + 600,
    jti: randomUUID(),
    scope: 'registry api admin',
    ...overrides,
  };
}

/** A token signed by a key the server has never seen, claiming one of its kids or a made-up one. */
export async function signWithForeignKey(claims: Record<string, unknown>, kid: string): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256');
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(privateKey);
}

export function basic(secret: string, username = 'palisade'): string {
  return `Basic ${Buffer.from(`${username}:${secret}`).toString('base64')}`;
}

/** The payload of a JWT, unverified (for asserting what a server issued). */
export function decodePayload<T = Record<string, unknown>>(token: string): T {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as T;
}

/** The app with default headers on every inject (pushImage and pushBlob take an app). */
export function withHeaders(t: TestServer, headers: Record<string, string>): TestServer['server']['app'] {
  const app = t.server.app;
  return new Proxy(app, {
    get(target, property, receiver) {
      if (property === 'inject') {
        return (options: InjectOptions) =>
          target.inject({ ...options, headers: { ...headers, ...options.headers } });
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

type App = TestServer['server']['app'];

/** A form POST as a browser or an OAuth client sends it. */
export function postForm(
  app: App,
  url: string,
  body: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(body).toString(),
  });
}

/** A JSON request, as the pages' scripts and API clients send it. */
export function sendJson(
  app: App,
  method: InjectOptions['method'],
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method,
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });
}
