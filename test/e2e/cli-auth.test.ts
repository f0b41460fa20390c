// People's command-line sign-in, end to end against `palisade serve`: the first administrator
// enrolls a (software) passkey from the logged one-time link and signs in; `palisade auth login`
// prints a device code, the browser session approves it, the CLI stores its tokens in a 0600
// file; `palisade auth token` prints a working token; skopeo pushes and pulls through
// docker-credential-palisade (credHelpers) without any token in auth.json; `auth logout` revokes.
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftAuthenticator } from '../../src/identity/test-authenticator.js';
import {
  REPO_ROOT,
  TempDirs,
  buildOciLayout,
  childEnv,
  expectSuccess,
  probeCommand,
  run,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
} from './harness.js';

const temp = new TempDirs();
const skopeoProbe = await probeCommand('skopeo');

describe('palisade auth and the credential helper', () => {
  let server: RunningServer;
  let config: string;
  let env: NodeJS.ProcessEnv;
  let session: { cookie: string; csrf: string };
  /** The server as its issuer names it (loopback becomes localhost: WebAuthn needs a host name). */
  let base: string;

  const cli = (args: string[], extra: NodeJS.ProcessEnv = env) =>
    run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/palisade.ts'), ...args], {
      env: extra,
      timeoutMs: 60_000,
    });

  beforeAll(async () => {
    // The real address as issuer: skopeo follows the token realm to it.
    server = await startServer({ publicUrl: false });
    base = `http://localhost:${server.port}`;
    config = temp.make();
    const bin = temp.make();
    const helper = join(bin, 'docker-credential-palisade');
    writeFileSync(
      helper,
      `#!/bin/sh\nexec "${process.execPath}" --import tsx "${join(REPO_ROOT, 'src/cli/docker-credential-palisade.ts')}" "$@"\n`,
    );
    chmodSync(helper, 0o755);
    env = { ...childEnv(), XDG_CONFIG_HOME: config, PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: config };

    // The first administrator enrolls from the link the server logged, as the browser would.
    const link = /"enrollmentUrl":"([^"]+)"/.exec(server.stdout())![1]!;
    const origin = base;
    const key = new SoftAuthenticator(origin);
    const post = (path: string, body: unknown) =>
      fetch(`${origin}${path}`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const start = (await (
      await post('/auth/enroll/options', { token: link.split('#')[1], displayName: 'Ops' })
    ).json()) as { ceremony: string; options: never };
    const enrolled = await post('/auth/enroll/verify', {
      ceremony: start.ceremony,
      response: key.register(start.options),
      displayName: 'Ops',
    });
    expect(enrolled.status).toBe(200);
    const cookie = enrolled.headers.get('set-cookie')!.split(';')[0]!;
    const account = await (await fetch(`${origin}/account`, { headers: { cookie } })).text();
    session = { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(account)![1]! };
  });

  afterAll(async () => {
    await stopAllServers();
    temp.removeAll();
  });

  it('signs the CLI in with the device flow, approved in the browser session', async () => {
    // An administrator's power comes only when asked for (--scope … admin).
    const login = cli([
      'auth',
      'login',
      '--server',
      base,
      '--scope',
      'registry api admin',
      '--output',
      'json',
    ]);
    let stderr = '';
    login.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await waitFor(
      'the device code on stderr',
      () => /code ([A-Z]{4}-[A-Z]{4})/.exec(stderr)?.[1],
      30_000,
      50,
    );
    expect(stderr).toContain(`${base}/device?user_code=${code}`);
    const approve = await fetch(`${base}/device`, {
      method: 'POST',
      headers: {
        origin: base,
        cookie: session.cookie,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ csrf: session.csrf, user_code: code, decision: 'approve' }).toString(),
    });
    expect(approve.status).toBe(200);
    const result = expectSuccess(await login, 'palisade auth login');
    expect(JSON.parse(result.stdout)).toMatchObject({ server: base, scope: 'registry api admin' });

    const file = join(config, 'palisade', 'credentials.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(config, 'palisade')).mode & 0o777).toBe(0o700);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<
      string,
      { access_token: string; refresh_token: string }
    >;
    expect(Object.keys(stored)).toEqual([base]);

    const token = expectSuccess(
      await cli(['auth', 'token', '--server', base]),
      'palisade auth token',
    ).stdout.trim();
    expect(token).toBe(stored[base]!.access_token);
    expect((await fetch(`${base}/v2/`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('renews the access token from the refresh token when it is about to expire', async () => {
    const file = join(config, 'palisade', 'credentials.json');
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<
      string,
      { access_token: string; expires_at: number; refresh_token: string }
    >;
    const before = stored[base]!;
    stored[base] = { ...before, expires_at: Math.floor(Date.now() / 1000) + 10 };
    writeFileSync(file, JSON.stringify(stored), { mode: 0o600 });
    const token = expectSuccess(
      await cli(['auth', 'token', '--server', base]),
      'palisade auth token',
    ).stdout.trim();
    const after = (JSON.parse(readFileSync(file, 'utf8')) as typeof stored)[base]!;
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect(token).toBe(after.access_token);
    expect((await fetch(`${base}/v2/`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('answers the credential-helper protocol without ever storing a secret', async () => {
    const host = `localhost:${server.port}`;
    const helper = (action: string, input: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = run('docker-credential-palisade', [action], { env });
        child.child.stdin!.end(input);
        void child.then(resolve);
      });
    const got = await helper('get', host);
    expect(got.code, got.stderr).toBe(0);
    const answer = JSON.parse(got.stdout) as { ServerURL: string; Username: string; Secret: string };
    expect(answer).toMatchObject({ ServerURL: host, Username: 'palisade' });
    expect(
      (await fetch(`${base}/v2/`, { headers: { authorization: `Bearer ${answer.Secret}` } })).status,
    ).toBe(200);
    expect(JSON.parse((await helper('list', '')).stdout)).toEqual({ [host]: 'palisade' });
    const stored = await helper(
      'store',
      JSON.stringify({ ServerURL: host, Username: 'x', Secret: 'long-lived-password' }),
    );
    expect(stored.code).toBe(1);
    expect(stored.stderr).toContain('palisade auth login');
    expect(readFileSync(join(config, 'palisade', 'credentials.json'), 'utf8')).not.toContain(
      'long-lived-password',
    );
    expect((await helper('get', 'unknown.example:5000')).code).toBe(1);
  });

  it.skipIf(!skopeoProbe.available)(
    'lets skopeo push and pull through credHelpers, with no token in auth.json',
    async () => {
      const host = `localhost:${server.port}`;
      const containers = join(config, 'containers');
      mkdirSync(containers, { recursive: true });
      const authFile = join(containers, 'auth.json');
      const authJson = JSON.stringify({ credHelpers: { [host]: 'palisade' } });
      writeFileSync(authFile, authJson);
      const layout = await buildOciLayout(temp.make(), { tag: 'v1' });
      const skopeoEnv = { ...env, REGISTRY_AUTH_FILE: authFile };
      expectSuccess(
        await run(
          'skopeo',
          ['copy', '--dest-tls-verify=false', `oci:${layout.dir}:v1`, `docker://${host}/ops/app:v1`],
          { env: skopeoEnv },
        ),
        'skopeo copy through the credential helper',
      );
      const inspected = expectSuccess(
        await run('skopeo', ['inspect', '--tls-verify=false', `docker://${host}/ops/app:v1`], {
          env: skopeoEnv,
        }),
        'skopeo inspect',
      );
      expect(JSON.parse(inspected.stdout)).toMatchObject({ Digest: layout.digest });
      const back = temp.make();
      expectSuccess(
        await run(
          'skopeo',
          ['copy', '--src-tls-verify=false', `docker://${host}/ops/app:v1`, `oci:${back}:v1`],
          {
            env: skopeoEnv,
          },
        ),
        'skopeo pull through the credential helper',
      );
      expect(JSON.parse(readFileSync(join(back, 'index.json'), 'utf8'))).toMatchObject({
        manifests: [{ digest: layout.digest }],
      });
      expect(readFileSync(authFile, 'utf8')).toBe(authJson);
    },
  );

  it('logs out: revokes the tokens on the server and forgets them here', async () => {
    const file = join(config, 'palisade', 'credentials.json');
    const stored = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, { access_token: string }>)[
      base
    ]!;
    const out = expectSuccess(await cli(['auth', 'logout', '--server', base]), 'palisade auth logout');
    expect(out.stdout).toContain('Signed out');
    expect(
      (await fetch(`${base}/v2/`, { headers: { authorization: `Bearer ${stored.access_token}` } })).status,
    ).toBe(401);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({});
    const token = await cli(['auth', 'token', '--server', base]);
    expect(token.code).toBe(1);
    expect(token.stderr.trim()).toBe(
      `palisade: not signed in to ${base} (or the sign-in expired); run palisade auth login --server ${base}`,
    );
  });
});
