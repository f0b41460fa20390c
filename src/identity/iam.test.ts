// The IAM API through the HTTP edge: who may manage users (administrators), bindings (owners of
// the organization) and public repositories (administrators); what each change does to access;
// the guards (last administrator, bad input) — refusals are clear and change nothing.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { pushImage, snapshot } from '../registry/test-helpers.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { createUser, withHeaders } from './test-helpers.js';

describe.each(testDialects())('IAM API (%s)', (dialect) => {
  let t: TestServer;
  const app = () => t.server.app;
  const call = (
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    url: string,
    token?: string,
    body?: unknown,
  ) =>
    app().inject({
      method,
      url,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
  const code = (res: LightMyRequestResponse) =>
    res.json<{ errors: { code: string; message: string }[] }>().errors[0]!;

  beforeAll(async () => {
    t = await startTestServer(dialect, {}, { asAdmin: false });
    await pushImage(withHeaders(t, { authorization: `Bearer ${t.adminToken}` }), 'acme/app', 'v1');
  });
  afterAll(async () => t.dispose());

  it('tells callers who they are, and lists roles', async () => {
    const me = await call('GET', '/api/v1/iam/whoami', t.adminToken);
    expect(me.json()).toMatchObject({
      subject: 'system:break-glass',
      kind: 'system',
      admin: true,
      scopes: ['registry', 'api', 'admin'],
    });
    expect((await call('GET', '/api/v1/iam/whoami')).statusCode).toBe(401);
    const roles = (await call('GET', '/api/v1/iam/roles', t.adminToken)).json<{
      roles: { name: string; capabilities: string[] }[];
    }>().roles;
    expect(roles.map((r) => r.name)).toEqual(['owner', 'editor', 'viewer', 'pusher', 'puller']);
    expect(roles.find((r) => r.name === 'puller')!.capabilities).toEqual(['repo.pull']);
  });

  it('lets administrators create users with a one-time enrollment link, and nobody else', async () => {
    const created = await call('POST', '/api/v1/iam/users', t.adminToken, {
      display_name: 'Linus',
      email: 'linus@example.com',
    });
    expect(created.statusCode, created.body).toBe(201);
    const body = created.json<{ user: { id: string; admin: boolean }; enrollment: { url: string } }>();
    expect(body.user).toMatchObject({ admin: false, disabled: false, email: 'linus@example.com' });
    expect(body.enrollment.url).toMatch(/^http:\/\/palisade\.test\/enroll#[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(body)).not.toMatch(/password/i);

    const member = await createUser(t);
    const before = await snapshot(t);
    expect((await call('POST', '/api/v1/iam/users', member.token, { display_name: 'X' })).statusCode).toBe(
      403,
    );
    expect((await call('POST', '/api/v1/iam/users', undefined, { display_name: 'X' })).statusCode).toBe(401);
    for (const bad of [
      {},
      { display_name: '' },
      { display_name: 'x', email: 'not-an-email' },
      { display_name: 'x', password: 'hunter2' },
    ]) {
      const res = await call('POST', '/api/v1/iam/users', t.adminToken, bad);
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      expect(code(res).code).toBe('PALISADE_BAD_REQUEST');
    }
    expect(await snapshot(t)).toBe(before);
  });

  it('disabling a user ends their tokens at once; the last administrator stays', async () => {
    const user = await createUser(t, { bindings: [{ role: 'puller', organization: 'acme' }] });
    expect((await call('GET', '/v2/acme/app/tags/list', user.token)).statusCode).toBe(200);
    const disabled = await call('PATCH', `/api/v1/iam/users/${user.id}`, t.adminToken, { disabled: true });
    expect(disabled.json()).toMatchObject({ disabled: true });
    expect((await call('GET', '/v2/acme/app/tags/list', user.token)).statusCode).toBe(401);

    const admin = await createUser(t, { admin: true });
    const others = (await t.server.identity.store.countAdmins(t.server.database.db)) - 1;
    // Demote every other administrator first, then the last one must be refused.
    const { users } = (await call('GET', '/api/v1/iam/users?limit=1000', t.adminToken)).json<{
      users: { id: string; admin: boolean; disabled: boolean }[];
    }>();
    for (const u of users.filter((x) => x.admin && !x.disabled && x.id !== admin.id)) {
      expect(
        (await call('PATCH', `/api/v1/iam/users/${u.id}`, t.adminToken, { admin: false })).statusCode,
      ).toBe(200);
    }
    expect(others).toBeGreaterThanOrEqual(0);
    const last = await call('PATCH', `/api/v1/iam/users/${admin.id}`, t.adminToken, { disabled: true });
    expect(last.statusCode).toBe(409);
    expect(code(last).code).toBe('PALISADE_LAST_ADMIN');
    expect(
      (await call('PATCH', `/api/v1/iam/users/${admin.id}`, t.adminToken, { admin: false })).statusCode,
    ).toBe(409);
  });

  it('lets an owner manage bindings in their organization only, with immediate effect', async () => {
    const owner = await createUser(t, { bindings: [{ role: 'owner', organization: 'acme' }] });
    const member = await createUser(t);
    expect((await call('GET', '/v2/acme/app/tags/list', member.token)).statusCode).toBe(403);

    const granted = await call('POST', '/api/v1/iam/bindings', owner.token, {
      principal: member.subject,
      role: 'puller',
      organization: 'acme',
      repository: 'acme/app',
    });
    expect(granted.statusCode, granted.body).toBe(201);
    const binding = granted.json<{ id: string }>();
    expect((await call('GET', '/v2/acme/app/tags/list', member.token)).statusCode).toBe(200);
    const listed = (await call('GET', '/api/v1/iam/bindings?organization=acme', owner.token)).json<{
      bindings: { id: string }[];
    }>();
    expect(listed.bindings.map((b) => b.id)).toContain(binding.id);

    const repoOwner = await createUser(t, { bindings: [{ role: 'owner', repository: 'acme/app' }] });
    const before = await snapshot(t);
    const dup = await call('POST', '/api/v1/iam/bindings', owner.token, {
      principal: member.subject,
      role: 'puller',
      organization: 'acme',
      repository: 'acme/app',
    });
    expect(dup.statusCode).toBe(409);
    expect(
      (
        await call('POST', '/api/v1/iam/bindings', owner.token, {
          principal: member.subject,
          role: 'owner',
          organization: 'other',
        })
      ).statusCode,
    ).toBe(403);
    expect((await call('GET', '/api/v1/iam/bindings?organization=other', owner.token)).statusCode).toBe(403);
    expect(
      (
        await call('POST', '/api/v1/iam/bindings', member.token, {
          principal: member.subject,
          role: 'owner',
          organization: 'acme',
        })
      ).statusCode,
    ).toBe(403);
    const outside = await call('POST', '/api/v1/iam/bindings', owner.token, {
      principal: member.subject,
      role: 'puller',
      organization: 'acme',
      repository: 'other/app',
    });
    expect(outside.statusCode).toBe(400);
    expect(code(outside).message).toContain('not in organization acme');
    expect(
      (
        await call('POST', '/api/v1/iam/bindings', owner.token, {
          principal: member.subject,
          role: 'god',
          organization: 'acme',
        })
      ).statusCode,
    ).toBe(400);
    expect(
      (
        await call('POST', '/api/v1/iam/bindings', owner.token, {
          principal: 'user:00000000-0000-0000-0000-000000000000',
          role: 'puller',
          organization: 'acme',
        })
      ).statusCode,
    ).toBe(404);
    // A repository-level owner does not own the organization.
    expect((await call('GET', '/api/v1/iam/bindings?organization=acme', repoOwner.token)).statusCode).toBe(
      403,
    );
    expect((await call('DELETE', `/api/v1/iam/bindings/${binding.id}`, member.token)).statusCode).toBe(403);
    expect(await snapshot(t)).toBe(before);

    expect((await call('DELETE', `/api/v1/iam/bindings/${binding.id}`, owner.token)).statusCode).toBe(204);
    expect((await call('GET', '/v2/acme/app/tags/list', member.token)).statusCode).toBe(403);
    expect((await call('DELETE', `/api/v1/iam/bindings/${binding.id}`, t.adminToken)).statusCode).toBe(404);
  });

  it('lets administrators make a repository public (anonymous pull) and private again', async () => {
    const member = await createUser(t, { bindings: [{ role: 'owner', organization: 'acme' }] });
    expect((await call('PUT', '/api/v1/iam/public-repositories/acme/app', member.token)).statusCode).toBe(
      403,
    );
    expect((await call('GET', '/v2/acme/app/tags/list')).statusCode).toBe(401);
    expect((await call('PUT', '/api/v1/iam/public-repositories/acme/app', t.adminToken)).statusCode).toBe(
      204,
    );
    expect((await call('GET', '/v2/acme/app/tags/list')).statusCode).toBe(200);
    expect((await call('GET', '/api/v1/iam/public-repositories', member.token)).json()).toEqual({
      repositories: ['acme/app'],
    });
    expect((await call('PUT', '/api/v1/iam/public-repositories/Bad..Name', t.adminToken)).statusCode).toBe(
      400,
    );
    expect((await call('DELETE', '/api/v1/iam/public-repositories/acme/app', t.adminToken)).statusCode).toBe(
      204,
    );
    expect((await call('GET', '/v2/acme/app/tags/list')).statusCode).toBe(401);
  });
});
