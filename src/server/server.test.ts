// Process-wide behaviour of the HTTP server: deny-by-default route registration, request ids,
// security headers, health and readiness, metrics, and internal errors that reveal nothing.
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { CAPABILITIES } from '../identity/capabilities.js';
import { registryRoutes } from '../registry/routes.js';
import { pushBlob } from '../registry/test-helpers.js';
import { installCapabilityGuard } from './server.js';
import { startTestServer, type TestServer } from './test-server.js';

describe.each(testDialects())('server (%s)', (dialect) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(dialect);
  });
  afterAll(async () => t.dispose());
  const app = () => t.server.app;

  it('refuses to register a route that declares no capability', () => {
    const bare = Fastify();
    installCapabilityGuard(bare);
    expect(() => bare.get('/undeclared', () => 'x')).toThrow(/declares no known capability/);
    expect(() => bare.get('/made-up', { config: { capability: 'everything' } }, () => 'x')).toThrow(
      /declares no known capability/,
    );
    expect(() => bare.get('/fine', { config: { capability: 'public' } }, () => 'x')).not.toThrow();
  });

  it('declares a known capability for every registry endpoint', () => {
    const routes = registryRoutes({
      service: t.server.registry,
      authorizer: t.server.identity.authorizer,
      metrics: t.server.metrics,
    });
    expect(routes.length).toBeGreaterThan(10);
    for (const route of routes) expect(CAPABILITIES, route.id).toContain(route.capability);
    const anonymous = routes.filter((r) => r.capability === 'public').map((r) => r.id);
    expect(anonymous).toEqual([]);
  });

  it('lets anonymous callers reach exactly the routes named here, and nothing else', () => {
    const anonymous = t.server.routes
      .filter((r) => r.capability === 'public' && r.method !== 'HEAD')
      .map((r) => `${r.method} ${r.url}`)
      .sort();
    expect(anonymous).toEqual(
      [
        'GET /',
        'GET /.well-known/jwks.json',
        'GET /.well-known/openid-configuration',
        'GET /assets/:name',
        'GET /enroll',
        'GET /healthz',
        'GET /readyz',
        'GET /signin',
        'GET /sso/:id/jwks.json',
        'GET /sso/:id/start',
        'GET /sso/callback',
        'GET /token',
        'POST /auth/enroll/options',
        'POST /auth/enroll/verify',
        'POST /auth/passkey/options',
        'POST /auth/passkey/verify',
        'POST /oauth/device_authorization',
        'POST /oauth/revoke',
        'POST /oauth/token',
        'POST /token',
      ].sort(),
    );
    // Everything else needs a token, a session, or is the /v2 dispatcher (checked per endpoint above).
    for (const route of t.server.routes)
      expect(route.capability, `${route.method} ${route.url}`).not.toBe('');
  });

  it('gives every response a request id (echoing a well-formed incoming one) and security headers', async () => {
    const res = await app().inject({ method: 'GET', url: '/v2/', headers: { 'x-request-id': 'trace-123' } });
    expect(res.headers['x-request-id']).toBe('trace-123');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    const bad = await app().inject({
      method: 'GET',
      url: '/v2/',
      headers: { 'x-request-id': 'bad id\u0001' },
    });
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sends HSTS only when the public URL is https', async () => {
    expect(
      (await app().inject({ method: 'GET', url: '/healthz' })).headers['strict-transport-security'],
    ).toBeUndefined();
    const tls = await startTestServer(dialect, { publicUrl: 'https://registry.example.com' });
    try {
      const res = await tls.server.app.inject({ method: 'GET', url: '/healthz' });
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    } finally {
      await tls.dispose();
    }
  });

  it('answers /healthz and /readyz', async () => {
    expect((await app().inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await app().inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', storage: 'ok' } });
  });

  it('counts requests by route and status, bytes in and out, and open uploads', async () => {
    await pushBlob(app(), 'metrics/app', randomBytes(1234));
    await app().inject({ method: 'POST', url: '/v2/metrics/app/blobs/uploads/' });
    await app().inject({ method: 'GET', url: '/v2/metrics/app/manifests/missing' });
    const res = await app().inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    const text = res.body;
    expect(text).toMatch(/palisade_http_requests_total\{method="POST",route="upload-start",status="201"\} 1/);
    expect(text).toMatch(/palisade_http_requests_total\{method="GET",route="manifest",status="404"\} 1/);
    expect(text).toMatch(
      /palisade_http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="manifest"/,
    );
    expect(text).toMatch(/palisade_http_request_bytes_total\{route="upload"\} 1234/);
    expect(text).toMatch(/palisade_registry_uploads_in_progress 1/);
  });

  it('serves metrics only to administrators', async () => {
    const anonymous = await app().inject({ method: 'GET', url: '/metrics', headers: { authorization: '' } });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json<{ errors: { code: string }[] }>().errors[0]!.code).toBe('UNAUTHORIZED');
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer realm="http:\/\/palisade.test\/token"/);
    const forged = await app().inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${t.adminToken.slice(0, -4)}AAAA` },
    });
    expect(forged.statusCode).toBe(401);
    expect(forged.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await app().inject({ method: 'GET', url: '/nothing/here' });
    expect(res.statusCode).toBe(404);
    expect(res.json<{ errors: { code: string }[] }>().errors[0]!.code).toBe('PALISADE_NOT_FOUND');
  });

  it('hides internal errors behind a request id', async () => {
    const broken = await startTestServer(dialect);
    try {
      await broken.server.database.close(); // every query now fails
      const res = await broken.server.app.inject({ method: 'GET', url: '/v2/x/tags/list' });
      expect(res.statusCode).toBe(500);
      const error = res.json<{ errors: { code: string; message: string }[] }>().errors[0]!;
      expect(error.code).toBe('PALISADE_INTERNAL');
      expect(error.message).toContain(res.headers['x-request-id'] as string);
      expect(res.body).not.toMatch(/sqlite|select|pool|\/tmp|\bat \w/i);
      const ready = await broken.server.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ checks: { database: 'unreachable' } });
    } finally {
      await broken.server.app.close();
      await broken.database.dispose();
    }
  });
});
