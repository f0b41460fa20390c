// Palisade as a token issuer seen from outside: discovery names the issuer and its JWKS, the
// JWKS holds public keys only, and a token the server minted verifies against that JWKS alone
// (what any receiver of a Palisade token does).
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { startTestServer, type TestServer } from '../server/test-server.js';

describe.each(testDialects())('issuer metadata (%s)', (dialect) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(dialect, {}, { asAdmin: false });
  });
  afterAll(async () => t.dispose());

  it('publishes discovery and a public-only JWKS without authentication', async () => {
    const discovery = await t.server.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
    expect(discovery.statusCode).toBe(200);
    expect(discovery.json()).toMatchObject({
      issuer: 'http://palisade.test',
      jwks_uri: 'http://palisade.test/.well-known/jwks.json',
      id_token_signing_alg_values_supported: ['ES256'],
      registry_token_endpoint: 'http://palisade.test/token',
    });
    const jwks = await t.server.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(jwks.statusCode).toBe(200);
    const set = jwks.json<JSONWebKeySet>();
    expect(set.keys.length).toBeGreaterThanOrEqual(1);
    for (const key of set.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    }
  });

  it('mints tokens that verify against the published JWKS alone', async () => {
    const set = (
      await t.server.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    ).json<JSONWebKeySet>();
    const { payload, protectedHeader } = await jwtVerify(t.adminToken, createLocalJWKSet(set), {
      issuer: 'http://palisade.test',
      audience: 'http://palisade.test',
      algorithms: ['ES256'],
    });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload).toMatchObject({
      sub: 'system:break-glass',
      scope: 'registry api admin',
      client_id: 'palisade-admin-cli',
    });
    expect(payload.exp! - payload.iat!).toBe(3600);
  });
});
