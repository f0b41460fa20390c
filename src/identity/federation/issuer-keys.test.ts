// Fetching a workload issuer's keys: what a hostile or broken issuer can and cannot do — name
// another issuer in its discovery, publish private or too many keys, answer too much or too slowly
// — plus the outbound address policy, cache lifetimes from Cache-Control, and stale keys while an
// issuer is briefly down.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ISSUER_KEY_SETTINGS, IssuerKeys, IssuerUnavailable } from './issuer-keys.js';

describe('IssuerKeys', () => {
  let server: Server;
  let base: string;
  let publicJwk: JWK;
  let token: string;
  /** Per issuer path prefix: what /<name>/.well-known/openid-configuration and /<name>/keys answer. */
  const behaviour: Record<
    string,
    {
      discovery?: (issuer: string) => unknown;
      keys?: () => unknown;
      cache?: string;
      hang?: boolean;
      down?: boolean;
    }
  > = {};
  const hits: string[] = [];

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid: 'k1' };
    server = createServer((request, response) => {
      const [, name, ...rest] = (request.url ?? '').split('/');
      const b = behaviour[name!] ?? {};
      hits.push(request.url ?? '');
      if (b.down) return void request.socket.destroy();
      if (b.hang) return;
      const issuer = `${base}/${name}`;
      const path = rest.join('/');
      const send = (body: unknown) => {
        response.writeHead(200, {
          'content-type': 'application/json',
          ...(b.cache ? { 'cache-control': b.cache } : {}),
        });
        response.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      if (path === '.well-known/openid-configuration')
        return send(b.discovery?.(issuer) ?? { issuer, jwks_uri: `${issuer}/keys` });
      if (path === 'keys') return send(b.keys?.() ?? { keys: [publicJwk] });
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    behaviour.private = { keys: () => ({ keys: [privateJwk] }) };
    token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const keys = (clock: () => number = Date.now, dev = true) =>
    new IssuerKeys(
      { ...DEFAULT_ISSUER_KEY_SETTINGS, timeoutMs: 500, policy: { dev, allowedNetworks: [] } },
      clock,
    );
  const header = { alg: 'ES256', kid: 'k1' };
  const input = () => ({ payload: '', signature: '' }) as never;

  it('fetches discovery then the JWKS, and finds the key by kid', async () => {
    behaviour.good = {};
    const getter = await keys().getter(`${base}/good`);
    await expect(getter(header, input())).resolves.toBeDefined();
    expect(token).toBeTruthy();
  });

  it.each([
    [
      'liar',
      {
        discovery: () => ({
          issuer: 'https://token.actions.githubusercontent.com',
          jwks_uri: 'https://x/keys',
        }),
      },
      /discovery names another issuer/,
    ],
    [
      'nojwks',
      { discovery: (issuer: string) => ({ issuer, jwks_uri: 'ftp://elsewhere/keys' }) },
      /no usable https jwks_uri/,
    ],
    ['private', undefined, /holds non-public keys/],
    [
      'symmetric',
      { keys: () => ({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'k1' }] }) },
      /holds non-public keys/,
    ],
    ['many', { keys: () => ({ keys: Array.from({ length: 101 }, () => publicJwk) }) }, /at most 100 keys/],
    ['huge', { keys: () => 'x'.repeat(300 * 1024) }, /JWKS fetch failed: answered more than 262144 bytes/],
    ['notjson', { keys: () => 'not json' }, /JWKS fetch failed: answered something that is not JSON/],
    ['slow', { hang: true }, /discovery failed: no answer within 500 ms/],
    ['gone', { down: true }, /discovery failed/],
  ])('refuses an issuer whose answers are bad (%s)', async (name, setup, message) => {
    if (setup) behaviour[name] = setup;
    const error = await keys()
      .getter(`${base}/${name}`)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IssuerUnavailable);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses loopback and private addresses outside development mode (unless allow-listed)', async () => {
    behaviour.strict = {};
    const before = hits.length;
    await expect(keys(Date.now, false).getter(`${base}/strict`)).rejects.toThrow(
      /address refused: 127\.0\.0\.1 is a loopback address/,
    );
    expect(hits.length).toBe(before);
    const allowed = new IssuerKeys({
      ...DEFAULT_ISSUER_KEY_SETTINGS,
      policy: { dev: false, allowedNetworks: ['127.0.0.0/8'] },
    });
    // Allow-listed, the discovery document is fetched — and its plain-http jwks_uri then refused.
    await expect(allowed.getter(`${base}/strict`)).rejects.toThrow(/no usable https jwks_uri/);
    expect(hits.length).toBe(before + 1);
  });

  it('caches for the JWKS max-age (within bounds) and keeps stale keys while the issuer is down', async () => {
    behaviour.cached = { cache: 'public, max-age=120' };
    let now = Date.now();
    const directory = keys(() => now);
    await directory.getter(`${base}/cached`);
    await directory.getter(`${base}/cached`);
    expect(directory.fetches.get(`${base}/cached`)).toBe(1);
    now += 121_000;
    await directory.getter(`${base}/cached`);
    expect(directory.fetches.get(`${base}/cached`)).toBe(2);
    behaviour.cached.down = true;
    now += 121_000; // expired, issuer down: the last keys still serve for a while
    await expect(directory.getter(`${base}/cached`)).resolves.toBeDefined();
    now += 2 * 3_600_000; // far past: no more
    await expect(directory.getter(`${base}/cached`)).rejects.toThrow(IssuerUnavailable);
  });
});
