// Workload identity federation against real issuers on loopback: trust policies (validation,
// access, audited before/after), the RFC 8693 exchange and its one-step /token form, and every
// validation rule — each mismatch named for the chosen policy only, issuers no policy trusts never
// contacted, key rotation, an issuer that is down, expired, future and oversized tokens, symmetric
// and forged signatures, linear-time patterns, and lifetime capping — then what the exchanged
// token may do in the registry, as which job.
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../../db/test-databases.js';
import { pushBlob } from '../../registry/test-helpers.js';
import { startTestServer, type TestServer } from '../../server/test-server.js';
import {
  basic,
  createUser,
  decodePayload,
  postForm,
  sendJson,
  withHeaders,
  type TestUser,
} from '../test-helpers.js';
import type { TrustPolicy } from './policy.js';
import { githubClaims, kubernetesClaims, startWorkloadIssuer, type WorkloadIssuer } from './test-issuer.js';

const ORIGIN = 'http://palisade.test';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

interface TokenResponse {
  access_token: string;
  issued_token_type: string;
  token_type: string;
  expires_in: number;
}

describe.each(testDialects())('workload identity federation (%s)', (dialect) => {
  let t: TestServer;
  let github: WorkloadIssuer;
  let cluster: WorkloadIssuer;
  let stranger: WorkloadIssuer;
  let owner: TestUser;
  let viewer: TestUser;
  let outsider: TestUser;
  let release: TrustPolicy;
  const app = () => t.server.app;
  const as = (user: TestUser | string) => ({
    authorization: `Bearer ${typeof user === 'string' ? user : user.token}`,
  });
  const createIdentity = (body: Record<string, unknown>, user: TestUser | string = owner) =>
    sendJson(app(), 'POST', '/api/v1/iam/identities', body, as(user));
  const exchange = (subjectToken: string, identity?: string, extra: Record<string, string> = {}) =>
    postForm(app(), '/oauth/token', {
      grant_type: GRANT,
      subject_token: subjectToken,
      subject_token_type: JWT_TYPE,
      ...(identity ? { identity } : {}),
      ...extra,
    });
  const refused = async (subjectToken: string, identity: string | undefined, message: RegExp | string) => {
    const res = await exchange(subjectToken, identity);
    expect(res.statusCode, res.body).toBe(400);
    const body = res.json<{ error: string; error_description: string }>();
    if (typeof message === 'string') expect(body.error_description).toBe(message);
    else expect(body.error_description).toMatch(message);
    return body;
  };
  const ghToken = (
    claims: Partial<Parameters<typeof githubClaims>[0]> = {},
    extra: Record<string, unknown> = {},
  ) => github.mint({ ...githubClaims({ repository: 'acme/app', audience: ORIGIN, ...claims }), ...extra });

  beforeAll(async () => {
    [github, cluster, stranger] = await Promise.all([
      startWorkloadIssuer(),
      startWorkloadIssuer(),
      startWorkloadIssuer(),
    ]);
    t = await startTestServer(dialect, { dev: true }, { asAdmin: false });
    owner = await createUser(t, { bindings: [{ role: 'owner', organization: 'acme' }] });
    viewer = await createUser(t, { bindings: [{ role: 'viewer', organization: 'acme' }] });
    outsider = await createUser(t, { bindings: [{ role: 'owner', organization: 'other' }] });
    const res = await createIdentity({
      organization: 'acme',
      description: 'release workflow of acme/app',
      issuer: github.issuer,
      subject: 'repo:acme/app:ref:refs/heads/main',
      claim_patterns: { job_workflow_ref: 'acme/app/\\.github/workflows/release\\.yml@refs/heads/main' },
      roles: ['pusher'],
      repositories: ['acme/app'],
      max_ttl_seconds: 600,
    });
    expect(res.statusCode, res.body).toBe(201);
    release = res.json<TrustPolicy>();
  });
  afterAll(async () => {
    await t.dispose();
    await Promise.all([github.close(), cluster.close(), stranger.close()]);
  });

  describe('trust policies', () => {
    it('are created by the organization’s owners, with the full policy in the event', async () => {
      expect(release).toMatchObject({
        organization: 'acme',
        roles: ['pusher'],
        repositories: ['acme/app'],
        created_by: owner.subject,
      });
      const [event] = await t.server.audit.store.list(
        t.server.database.db,
        { subject: `identity:${release.id}` },
        10,
      );
      expect(event!.type).toBe('dev.palisade.iam.identity.created.v1');
      expect((JSON.parse(event!.event) as { data: { body: unknown } }).data.body).toEqual({ after: release });
    });

    it('are readable with iam.read in the organization and invisible elsewhere', async () => {
      const url = `/api/v1/iam/identities/${release.id}`;
      expect((await app().inject({ method: 'GET', url, headers: as(viewer) })).json()).toMatchObject({
        id: release.id,
      });
      expect((await app().inject({ method: 'GET', url, headers: as(outsider) })).statusCode).toBe(403);
      const list = await app().inject({
        method: 'GET',
        url: '/api/v1/iam/identities?organization=acme',
        headers: as(viewer),
      });
      expect(list.json<{ identities: TrustPolicy[] }>().identities.map((i) => i.id)).toContain(release.id);
      expect(
        (await app().inject({ method: 'GET', url: '/api/v1/iam/identities', headers: as(owner) })).statusCode,
      ).toBe(403);
      expect(
        (
          await createIdentity(
            { organization: 'acme', issuer: github.issuer, subject: 'x', roles: ['puller'] },
            viewer,
          )
        ).statusCode,
      ).toBe(403);
      expect(
        (
          await createIdentity(
            { organization: 'acme', issuer: github.issuer, subject: 'x', roles: ['puller'] },
            outsider,
          )
        ).statusCode,
      ).toBe(403);
    });

    it.each([
      [{ subject_pattern: '(a)\\1' }, /subject_pattern: is not a valid pattern \(invalid escape sequence/],
      [{ subject_pattern: '(?=admin).*' }, /subject_pattern: is not a valid pattern/],
      [{ subject_pattern: 'a'.repeat(257) }, /subject_pattern: .*(longer than 256|300)/],
      [{ subject: undefined }, /subject: give subject or subject_pattern/],
      [{ subject_pattern: 'repo:acme/.*' }, /subject, subject_pattern: give one of them, not both/],
      [{ issuer: 'http://issuer.example.com' }, /issuer: must be an https:\/\/ URL/],
      [{ issuer: 'https://user:pw@issuer.example.com' }, /issuer: must not contain user information/],
      [{ issuer: 'https://issuer.example.com/?q=1' }, /issuer: must not have a query/],
      [{ issuer: undefined, issuer_pattern: '.*' }, /issuer_pattern: must start with https:\/\//],
      [{ roles: ['owner'] }, /roles/],
      [{ repositories: ['other/app'] }, /repositories: other\/app is not in organization acme/],
      [{ max_ttl_seconds: 7200 }, /max_ttl_seconds/],
      [{ claim_patterns: { 'bad name!': 'x' } }, /claim_patterns/],
      [{ surprise: true }, /surprise/],
    ])('refuses %j with the field named, storing nothing', async (change, message) => {
      const before = await t.server.identity.trustPolicies.list();
      const head = (await t.server.audit.store.head(t.server.database.db)).seq;
      const body: Record<string, unknown> = {
        organization: 'acme',
        issuer: 'https://token.actions.githubusercontent.com',
        subject: 'repo:acme/app:ref:refs/heads/main',
        roles: ['pusher'],
        ...change,
      };
      for (const [key, value] of Object.entries(change)) if (value === undefined) delete body[key];
      const res = await createIdentity(body);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json<{ errors: { message: string }[] }>().errors[0]!.message).toMatch(message);
      expect(await t.server.identity.trustPolicies.list()).toEqual(before);
      expect((await t.server.audit.store.head(t.server.database.db)).seq).toBe(head);
    });

    it('are changed with before and after recorded, and deleting one ends its tokens', async () => {
      const created = (
        await createIdentity({
          organization: 'acme',
          issuer: cluster.issuer,
          subject: 'system:serviceaccount:ci:builder',
          roles: ['puller'],
        })
      ).json<TrustPolicy>();
      const token = (
        await exchange(
          await cluster.mint(
            kubernetesClaims({ namespace: 'ci', serviceAccount: 'builder', audience: ORIGIN }),
          ),
          created.id,
        )
      ).json<TokenResponse>();
      const patched = await sendJson(
        app(),
        'PATCH',
        `/api/v1/iam/identities/${created.id}`,
        { subject_pattern: 'system:serviceaccount:ci:.*', roles: ['pusher'] },
        as(owner),
      );
      expect(patched.statusCode, patched.body).toBe(200);
      expect(patched.json()).toMatchObject({
        subject: null,
        subject_pattern: 'system:serviceaccount:ci:.*',
        roles: ['pusher'],
      });
      const events = await t.server.audit.store.list(
        t.server.database.db,
        { subject: `identity:${created.id}`, typePrefix: 'dev.palisade.iam.identity.updated' },
        10,
      );
      expect(
        (JSON.parse(events[0]!.event) as { data: { body: { before: TrustPolicy; after: TrustPolicy } } }).data
          .body,
      ).toMatchObject({
        before: { subject: 'system:serviceaccount:ci:builder', roles: ['puller'] },
        after: { subject: null, roles: ['pusher'] },
      });
      const whoami = () =>
        app().inject({ method: 'GET', url: '/api/v1/iam/whoami', headers: as(token.access_token) });
      expect((await whoami()).statusCode).toBe(200);
      expect(
        (
          await app().inject({
            method: 'DELETE',
            url: `/api/v1/iam/identities/${created.id}`,
            headers: as(owner),
          })
        ).statusCode,
      ).toBe(204);
      t.server.identity.authorizer.forget();
      expect((await whoami()).statusCode).toBe(401);
    });
  });

  describe('the exchange', () => {
    it('trades a matching GitHub Actions token for a short-lived Palisade token that pushes only where granted', async () => {
      const res = await exchange(await ghToken(), release.id);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json<TokenResponse>();
      expect(body).toMatchObject({
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
      });
      expect(body.expires_in).toBeLessThanOrEqual(300); // the subject token had 300 s left
      const claims = decodePayload<Record<string, unknown>>(body.access_token);
      expect(claims).toMatchObject({
        sub: `identity:${release.id}`,
        iss: ORIGIN,
        aud: ORIGIN,
        upstream: { iss: github.issuer, sub: 'repo:acme/app:ref:refs/heads/main' },
      });

      const machine = withHeaders(t, as(body.access_token));
      await pushBlob(machine, 'acme/app', Buffer.from('built by CI'));
      const denied = await machine.inject({
        method: 'POST',
        url: '/v2/acme/other/blobs/uploads/',
        headers: {},
      });
      expect(denied.statusCode).toBe(403);
      expect((await machine.inject({ method: 'POST', url: '/v2/other/app/blobs/uploads/' })).statusCode).toBe(
        403,
      );

      // Who pushed it, as which CI job.
      const [push] = await t.server.audit.store.list(
        t.server.database.db,
        { typePrefix: 'dev.palisade.registry.blob.pushed', actor: `identity:${release.id}` },
        10,
      );
      const actor = (
        JSON.parse(push!.event) as { data: { actor: { kind: string; act: Record<string, unknown> } } }
      ).data.actor;
      expect(actor).toMatchObject({
        kind: 'workload',
        act: {
          iss: github.issuer,
          sub: 'repo:acme/app:ref:refs/heads/main',
          aud: [ORIGIN],
          identity: release.id,
          repository: 'acme/app',
          job_workflow_ref: 'acme/app/.github/workflows/release.yml@refs/heads/main',
          run_id: '9876543210',
        },
      });
      const [exchanged] = await t.server.audit.store.list(
        t.server.database.db,
        { typePrefix: 'dev.palisade.auth.token.exchanged', subject: `identity:${release.id}` },
        10,
      );
      expect(exchanged!.event).not.toContain(body.access_token);
    });

    it('does the same in one step on /token with _oidc:<identity> Basic credentials', async () => {
      const res = await app().inject({
        method: 'GET',
        url: '/token?service=palisade&scope=repository:acme/app:push,pull&scope=repository:acme/other:push',
        headers: { authorization: basic(await ghToken(), `_oidc:${release.id}`) },
      });
      expect(res.statusCode, res.body).toBe(200);
      const access = decodePayload<{ access: unknown[]; sub: string }>(res.json<{ token: string }>().token);
      expect(access.sub).toBe(`identity:${release.id}`);
      expect(access.access).toEqual([{ type: 'repository', name: 'acme/app', actions: ['push', 'pull'] }]);
      const bad = await app().inject({
        method: 'GET',
        url: '/token?service=palisade&scope=repository:acme/app:push',
        headers: { authorization: basic(await ghToken({ ref: 'refs/heads/dev' }), `_oidc:${release.id}`) },
      });
      expect(bad.statusCode).toBe(401);
      expect(bad.json<{ errors: { message: string }[] }>().errors[0]!.message).toContain(
        'subject repo:acme/app:ref:refs/heads/dev is not repo:acme/app:ref:refs/heads/main',
      );
    });

    it('names the field that did not match in the chosen identity', async () => {
      await refused(
        await ghToken({ ref: 'refs/heads/dev' }),
        release.id,
        `subject repo:acme/app:ref:refs/heads/dev is not repo:acme/app:ref:refs/heads/main (identity ${release.id})`,
      );
      await refused(
        await ghToken({ audience: 'https://github.com/acme' }),
        release.id,
        /^audience https:\/\/github.com\/acme does not include http:\/\/palisade.test/,
      );
      await refused(
        await ghToken({ workflow: 'evil.yml' }),
        release.id,
        `claim job_workflow_ref acme/app/.github/workflows/evil.yml@refs/heads/main does not match ^(?:acme/app/\\.github/workflows/release\\.yml@refs/heads/main)$ (identity ${release.id})`,
      );
      await refused(
        await ghToken({}, { job_workflow_ref: undefined }),
        release.id,
        /^claim job_workflow_ref is missing/,
      );
      await refused(
        await ghToken({}, { job_workflow_ref: 42 }),
        release.id,
        /^claim job_workflow_ref is not a string or boolean/,
      );
      await refused(
        await cluster.mint(
          kubernetesClaims({ namespace: 'ci', serviceAccount: 'builder', audience: ORIGIN }),
        ),
        release.id,
        `issuer ${cluster.issuer} is not ${github.issuer}`,
      );
    });

    it('compares boolean claims as "true"/"false", and matches patterns anchored', async () => {
      const id = (
        await createIdentity({
          organization: 'acme',
          issuer: github.issuer,
          subject_pattern: 'repo:acme/[a-z]+:environment:prod',
          audience_pattern: 'palisade-(prod|staging)',
          claim_patterns: { protected: 'true' },
          roles: ['puller'],
        })
      ).json<TrustPolicy>().id;
      const token = (extra: Record<string, unknown>, env = 'prod') =>
        github.mint({
          ...githubClaims({ repository: 'acme/web', environment: env, audience: ['x', 'palisade-prod'] }),
          ...extra,
        });
      expect((await exchange(await token({ protected: true }), id)).statusCode).toBe(200);
      await refused(
        await token({ protected: false }),
        id,
        /^claim protected false does not match \^\(\?:true\)\$/,
      );
      await refused(
        await token({ protected: true }, 'prod-eu'),
        id,
        /^subject repo:acme\/web:environment:prod-eu does not match \^\(\?:repo:acme\/\[a-z\]\+:environment:prod\)\$/,
      );
      await refused(
        await github.mint({
          ...githubClaims({
            repository: 'acme/web',
            environment: 'prod',
            audience: 'palisade-prod.evil.example',
          }),
          protected: true,
        }),
        id,
        /^audience palisade-prod.evil.example does not match \^\(\?:palisade-\(prod\|staging\)\)\$/,
      );
      await t.server.identity.trustPolicies.delete(id);
    });

    it('never contacts an issuer that no policy trusts', async () => {
      const token = await stranger.mint(githubClaims({ repository: 'acme/app', audience: ORIGIN }));
      await refused(token, undefined, `no identity trusts issuer ${stranger.issuer}`);
      await refused(token, release.id, `issuer ${stranger.issuer} is not ${github.issuer}`);
      // A token claiming a trusted issuer but pointing elsewhere (jku) still only uses the named issuer.
      const { privateKey } = await generateKeyPair('RS256');
      const forged = await new SignJWT(githubClaims({ repository: 'acme/app', audience: ORIGIN }))
        .setProtectedHeader({ alg: 'RS256', kid: github.kid(), jku: `${stranger.issuer}/keys` })
        .setIssuer(github.issuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      await refused(forged, release.id, 'subject token signature does not verify with its issuer’s keys');
      expect(stranger.requests).toEqual([]);
    });

    it('refuses issuer URLs that are not plain https (before any lookup)', async () => {
      for (const [iss, problem] of [
        ['http://issuer.example.com', 'must be an https:// URL'],
        ['https://user@issuer.example.com', 'must not contain user information'],
        ['https://issuer.example.com/?tenant=1', 'must not have a query'],
        ['https://issuer.example.com/#x', 'must not have a fragment'],
        [`https://issuer.example.com/${'a'.repeat(300)}`, 'is longer than 255 characters'],
      ] as const) {
        const token = await github.mint({
          ...githubClaims({ repository: 'acme/app', audience: ORIGIN }),
          iss,
        });
        const body = await refused(
          token,
          release.id,
          new RegExp(problem.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')),
        );
        expect(body.error).toBe('invalid_grant');
      }
    });

    it('uses the single matching identity when none is named, and asks to choose when several match', async () => {
      expect((await exchange(await ghToken())).statusCode).toBe(200);
      await refused(
        await ghToken({ ref: 'refs/heads/dev' }),
        undefined,
        /^no identity matches this token \(subject repo:acme\/app:ref:refs\/heads\/dev\); pass identity=<id>/,
      );
      const twin = (
        await createIdentity({
          organization: 'acme',
          issuer: github.issuer,
          subject_pattern: 'repo:acme/app:.*',
          roles: ['puller'],
        })
      ).json<TrustPolicy>();
      const res = await exchange(await ghToken());
      expect(res.json()).toMatchObject({
        error: 'invalid_request',
        error_description: '2 identities match this token; choose one with identity=<id>',
      });
      await t.server.identity.trustPolicies.delete(twin.id);
    });

    it('refuses expired, not-yet-valid, future, long-lived and oversized tokens', async () => {
      const now = Math.floor(Date.now() / 1000);
      await refused(await ghToken({}, { exp: now - 120 }), release.id, 'subject token expired');
      await refused(
        await ghToken({}, { nbf: now + 600 }),
        release.id,
        'subject token is not yet valid (nbf)',
      );
      await refused(
        await github.mint(githubClaims({ repository: 'acme/app', audience: ORIGIN }), {
          iat: now + 600,
          expiresIn: 300,
        }),
        release.id,
        /issued in the future|not yet valid/,
      );
      await refused(
        await github.mint(githubClaims({ repository: 'acme/app', audience: ORIGIN }), {
          expiresIn: 2 * 86400,
        }),
        release.id,
        'subject token lifetime exceeds 86400 s',
      );
      await refused(
        await github.mint(githubClaims({ repository: 'acme/app', audience: ORIGIN }), {
          iat: now - 90_000,
          expiresIn: 100_000,
        }),
        release.id,
        'subject token is too old (iat)',
      );
      await refused(
        await ghToken({}, { sub: `repo:acme/app:${'x'.repeat(600)}` }),
        release.id,
        /sub must be 1–512 printable ASCII characters/,
      );
      await refused(
        await ghToken({}, { sub: 'repo:acme/app:\u0000' }),
        release.id,
        /sub must be 1–512 printable ASCII/,
      );
      await refused(
        await ghToken({ audience: Array.from({ length: 11 }, (_, i) => `a${i}`) }),
        release.id,
        /aud must be 1–10 printable strings/,
      );
      await refused(
        await ghToken({}, { blob: 'x'.repeat(17 * 1024) }),
        release.id,
        /subject_token is longer than 16384 bytes/,
      );
      await refused('not.a.jwt', release.id, 'subject_token is not a JWT');
    });

    it('accepts asymmetric algorithms only, and only the issuer’s own keys', async () => {
      const hmac = await new SignJWT(githubClaims({ repository: 'acme/app', audience: ORIGIN }))
        .setProtectedHeader({ alg: 'HS256', kid: github.kid() })
        .setIssuer(github.issuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode('a shared secret nobody should trust here'));
      await refused(hmac, release.id, /^subject token algorithm HS256 is not accepted/);
      const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
      const payload = Buffer.from(
        JSON.stringify({ ...githubClaims({ repository: 'acme/app', audience: ORIGIN }), iss: github.issuer }),
      ).toString('base64url');
      await refused(`${header}.${payload}.`, release.id, /^subject token algorithm none is not accepted/);
      const { privateKey } = await generateKeyPair('RS256');
      await refused(
        await ghToken({}, {}).then(() =>
          github.mint(githubClaims({ repository: 'acme/app', audience: ORIGIN }), { key: privateKey }),
        ),
        release.id,
        'subject token signature does not verify with its issuer’s keys',
      );
    });

    it('follows key rotation at the issuer, refetching for an unknown kid at most once a minute', async () => {
      expect((await exchange(await ghToken(), release.id)).statusCode).toBe(200);
      const fetchesBefore = t.server.identity.issuerKeys.fetches.get(github.issuer) ?? 0;
      await github.rotate();
      expect((await exchange(await ghToken(), release.id)).statusCode).toBe(200);
      expect(t.server.identity.issuerKeys.fetches.get(github.issuer)).toBe(fetchesBefore + 1);
      // Made-up kids do not make Palisade hammer the issuer.
      for (let i = 0; i < 3; i++) {
        await refused(
          await ghToken().then(() =>
            github.mint(githubClaims({ repository: 'acme/app', audience: ORIGIN }), { kid: `made-up-${i}` }),
          ),
          release.id,
          'subject token was signed with a key its issuer does not publish',
        );
      }
      expect(t.server.identity.issuerKeys.fetches.get(github.issuer)).toBe(fetchesBefore + 1);
    });

    it('answers clearly when an issuer is down, and contacts it no more than asked', async () => {
      const down = await startWorkloadIssuer();
      const id = (
        await createIdentity({
          organization: 'acme',
          issuer: down.issuer,
          subject: 'system:serviceaccount:ci:builder',
          roles: ['puller'],
        })
      ).json<TrustPolicy>().id;
      const token = await down.mint(
        kubernetesClaims({ namespace: 'ci', serviceAccount: 'builder', audience: ORIGIN }),
      );
      down.down = true;
      await refused(
        token,
        id,
        new RegExp(`^issuer ${down.issuer.replace(/[.]/g, '\\.')} discovery failed: .*; try again later$`),
      );
      down.down = false;
      expect((await exchange(token, id)).statusCode).toBe(200);
      await down.close();
      await t.server.identity.trustPolicies.delete(id);
    });

    it('matches patterns in linear time, even adversarial ones', async () => {
      const id = (
        await createIdentity({
          organization: 'acme',
          issuer: github.issuer,
          subject_pattern: '(a|a)*(b|b)*c',
          roles: ['puller'],
        })
      ).json<TrustPolicy>().id;
      // A backtracking engine takes exponential time on this subject; RE2 answers at once.
      await refused(
        await ghToken({}, { sub: `${'a'.repeat(40)}${'b'.repeat(40)}d` }),
        id,
        /^subject a+b+d does not match/,
      );
      await t.server.identity.trustPolicies.delete(id);
    });

    it('caps the lifetime at the policy maximum, one hour and the subject token’s own remaining life', async () => {
      const long = (
        await createIdentity({
          organization: 'acme',
          issuer: cluster.issuer,
          subject: 'system:serviceaccount:ci:builder',
          roles: ['puller'],
          max_ttl_seconds: 3600,
        })
      ).json<TrustPolicy>().id;
      const k8s = (expiresIn: number) =>
        cluster.mint(kubernetesClaims({ namespace: 'ci', serviceAccount: 'builder', audience: ORIGIN }), {
          expiresIn,
        });
      expect((await exchange(await k8s(3 * 3600), long)).json<TokenResponse>().expires_in).toBe(3600);
      const short = (await exchange(await k8s(120), long)).json<TokenResponse>().expires_in;
      expect(short).toBeGreaterThan(100);
      expect(short).toBeLessThanOrEqual(120);
      await t.server.identity.trustPolicies.update(long, { max_ttl_seconds: 600 });
      expect((await exchange(await k8s(3 * 3600), long)).json<TokenResponse>().expires_in).toBe(600);
      const token = (await exchange(await k8s(3 * 3600), long)).json<TokenResponse>().access_token;
      const claims = decodePayload<{
        exp: number;
        iat: number;
        workload: { claims: Record<string, unknown> };
      }>(token);
      expect(claims.exp - claims.iat).toBe(600);
      expect(claims.workload.claims).toMatchObject({
        'kubernetes.io/namespace': 'ci',
        'kubernetes.io/serviceaccount': 'builder',
      });
      await t.server.identity.trustPolicies.delete(long);
    });

    it('audits every exchange, refused ones too, with the external claims and never a token', async () => {
      const head = (await t.server.audit.store.head(t.server.database.db)).seq;
      const good = await ghToken();
      const bad = await ghToken({ ref: 'refs/heads/dev' });
      const issued = (await exchange(good, release.id)).json<TokenResponse>().access_token;
      await exchange(bad, release.id);
      const events = await t.server.audit.store.list(
        t.server.database.db,
        { afterSeq: head, typePrefix: 'dev.palisade.auth.token.exchanged' },
        10,
      );
      const parsed = events.map(
        (e) =>
          JSON.parse(e.event) as {
            data: { outcome: string; body: { claims: { sub: string }; reason?: string } };
          },
      );
      expect(parsed.map((e) => [e.data.outcome, e.data.body.claims.sub])).toEqual([
        ['success', 'repo:acme/app:ref:refs/heads/main'],
        ['failure', 'repo:acme/app:ref:refs/heads/dev'],
      ]);
      expect(parsed[1]!.data.body.reason).toContain('is not repo:acme/app:ref:refs/heads/main');
      const text = events.map((e) => e.event).join('\n');
      for (const secret of [good, bad, issued]) expect(text).not.toContain(secret.split('.')[2]);
    });

    it('refuses malformed requests plainly', async () => {
      const res = await postForm(app(), '/oauth/token', {
        grant_type: GRANT,
        subject_token: await ghToken(),
        subject_token_type: 'urn:ietf:params:oauth:token-type:saml2',
      });
      expect(res.json()).toMatchObject({
        error: 'invalid_request',
        error_description: expect.stringContaining('subject_token_type must be'),
      });
      expect((await exchange(await ghToken(), 'not-a-uuid')).json()).toMatchObject({
        error: 'invalid_request',
      });
      expect((await exchange(await ghToken(), '00000000-0000-4000-8000-000000000000')).json()).toMatchObject({
        error_description: 'no identity 00000000-0000-4000-8000-000000000000',
      });
      expect(
        (
          await exchange(await ghToken(), release.id, {
            requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
          })
        ).statusCode,
      ).toBe(400);
    });
  });
});
