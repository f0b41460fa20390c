// Workload identity federation end to end, as a CI job uses it: an owner makes a trust policy with
// `palisade iam identities create --github-repo … --github-ref main` (pointed at a real issuer on
// loopback that mints GitHub-Actions-shaped tokens), the job pushes with skopeo holding nothing
// but its own OIDC token (`_oidc:<id>` as the username), is denied elsewhere, signs in with
// `palisade auth login --identity`, and the audit log says which job pushed the digest.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  githubClaims,
  startWorkloadIssuer,
  type WorkloadIssuer,
} from '../../src/identity/federation/test-issuer.js';
import {
  TempDirs,
  buildOciLayout,
  expectSuccess,
  probeCommand,
  registryHost,
  runCli,
  skopeo,
  startServer,
  stopAllServers,
  type OciLayout,
  type RunningServer,
} from './harness.js';

const temp = new TempDirs();
const probe = await probeCommand('skopeo');

describe('a CI job pushes with nothing stored but a trust policy', () => {
  let server: RunningServer;
  let issuer: WorkloadIssuer;
  let adminToken = '';
  let audience = '';
  let identity = '';
  let image: OciLayout;
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli([...args, '--server', server.url], { XDG_CONFIG_HOME: temp.make(), ...env }, 60_000);

  beforeAll(async () => {
    issuer = await startWorkloadIssuer();
    // Realm-following clients (skopeo) need the server to name its own address.
    server = await startServer({ args: ['--dev'], publicUrl: false });
    adminToken = await server.adminToken();
    audience = (
      (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as { issuer: string }
    ).issuer;
    image = await buildOciLayout(temp.make(), { tag: 'v1' });
    const created = expectSuccess(
      await cli(
        [
          'iam',
          'identities',
          'create',
          '--org',
          'acme',
          '--github-repo',
          'acme/app',
          '--github-ref',
          'main',
          '--issuer',
          issuer.issuer,
          '--role',
          'pusher',
          '--repository',
          'acme/app',
          '--max-ttl',
          '10m',
          '--output',
          'json',
        ],
        { PALISADE_TOKEN: adminToken },
      ),
      'identities create',
    );
    identity = (JSON.parse(created.stdout) as { id: string }).id;
  });
  afterAll(async () => {
    await stopAllServers();
    await issuer.close();
    temp.removeAll();
  });

  const jobToken = (ref = 'refs/heads/main') =>
    issuer.mint(githubClaims({ repository: 'acme/app', ref, audience }));

  it.skipIf(!probe.available)(
    'pushes with skopeo to the granted repository and is denied on another',
    async () => {
      const host = registryHost(server);
      const creds = `_oidc:${identity}:${await jobToken()}`;
      expectSuccess(
        await skopeo([
          'copy',
          '--dest-tls-verify=false',
          '--dest-creds',
          creds,
          `oci:${image.dir}:v1`,
          `docker://${host}/acme/app:v1`,
        ]),
        'skopeo copy with a workload token',
      );
      const denied = await skopeo([
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        creds,
        `oci:${image.dir}:v1`,
        `docker://${host}/acme/other:v1`,
      ]);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toMatch(/denied|unauthorized|forbidden/i);
      const wrongBranch = await skopeo([
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        `_oidc:${identity}:${await jobToken('refs/heads/dev')}`,
        `oci:${image.dir}:v1`,
        `docker://${host}/acme/app:dev`,
      ]);
      expect(wrongBranch.code).not.toBe(0);

      // Who pushed this digest, as which CI job — from the CLI alone.
      const events = expectSuccess(
        await cli(['events', 'list', '--subject', `acme/app@${image.digest}`, '--output', 'json'], {
          PALISADE_TOKEN: adminToken,
        }),
        'events list',
      );
      const [push] = JSON.parse(events.stdout) as {
        type: string;
        actor: string;
        data: { actor: { kind: string; act: Record<string, unknown> } };
      }[];
      expect(push).toMatchObject({
        type: 'dev.palisade.registry.manifest.pushed.v1',
        actor: `identity:${identity}`,
      });
      expect(push!.data.actor).toMatchObject({
        kind: 'workload',
        act: {
          iss: issuer.issuer,
          sub: 'repo:acme/app:ref:refs/heads/main',
          repository: 'acme/app',
          workflow_ref: 'acme/app/.github/workflows/release.yml@refs/heads/main',
          run_id: '9876543210',
        },
      });
    },
  );

  it('signs a script in with palisade auth login --identity, and refuses a token of another branch with the reason', async () => {
    const dir = temp.make();
    const file = join(dir, 'oidc-token');
    writeFileSync(file, await jobToken());
    const env = { XDG_CONFIG_HOME: dir };
    const login = expectSuccess(
      await cli(['auth', 'login', '--identity', identity, '--identity-token', file], env),
      'auth login --identity',
    );
    expect(login.stdout).toMatch(new RegExp(`^Signed in to .* as identity ${identity} until `));
    const whoami = expectSuccess(await cli(['iam', 'whoami', '--output', 'json'], env), 'iam whoami');
    expect(JSON.parse(whoami.stdout)).toMatchObject({ subject: `identity:${identity}`, kind: 'workload' });

    writeFileSync(file, await jobToken('refs/heads/dev'));
    const refused = await cli(['auth', 'login', '--identity', identity, '--identity-token', file], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'subject repo:acme/app:ref:refs/heads/dev is not repo:acme/app:ref:refs/heads/main',
    );
  });
});
