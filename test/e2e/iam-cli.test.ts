// `palisade iam …` against `palisade serve`: an administrator (break-glass token here) creates a
// user with an enrollment link, gives them a role, lists bindings as a table and as JSON, makes
// a repository public; mistakes come back as one line with the server's reason and exit 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  childEnv,
  expectSuccess,
  runCli,
  startServer,
  stopAllServers,
  TempDirs,
  type RunningServer,
} from './harness.js';

const temp = new TempDirs();

describe('palisade iam', () => {
  let server: RunningServer;
  let token: string;
  const iam = (args: string[], extra: Record<string, string> = {}) =>
    runCli(['iam', ...args, '--server', server.url], {
      PALISADE_TOKEN: token,
      XDG_CONFIG_HOME: temp.make(),
      ...extra,
    });

  beforeAll(async () => {
    server = await startServer();
    token = await server.adminToken();
  });
  afterAll(async () => {
    await stopAllServers();
    temp.removeAll();
  });

  it('creates a user, binds a role, lists bindings, and makes a repository public', async () => {
    const me = JSON.parse(expectSuccess(await iam(['whoami', '--output', 'json']), 'iam whoami').stdout) as {
      subject: string;
      admin: boolean;
    };
    expect(me).toMatchObject({ subject: 'system:break-glass', admin: true });

    const created = JSON.parse(
      expectSuccess(await iam(['users', 'create', '--name', 'Margaret', '--output', 'json']), 'users create')
        .stdout,
    ) as {
      user: { id: string };
      enrollment: { url: string };
    };
    expect(created.enrollment.url).toMatch(/^http:\/\/palisade\.e2e\/enroll#/);
    const human = expectSuccess(
      await iam(['users', 'create', '--name', 'Ken']),
      'users create (table)',
    ).stdout;
    expect(human).toMatch(/^Created [0-9a-f-]{36}\. Send them this one-time link/);

    const binding = JSON.parse(
      expectSuccess(
        await iam([
          'bindings',
          'create',
          '--principal',
          `user:${created.user.id}`,
          '--role',
          'pusher',
          '--org',
          'apollo',
          '--output',
          'json',
        ]),
        'bindings create',
      ).stdout,
    ) as { id: string };
    const table = expectSuccess(
      await iam(['bindings', 'list', '--org', 'apollo']),
      'bindings list',
    ).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+PRINCIPAL\s+ROLE\s+ORGANIZATION\s+REPOSITORY$/);
    expect(table[1]).toContain(binding.id);
    expect(table[1]).toContain('pusher');

    expectSuccess(await iam(['public', 'set', 'apollo/lander']), 'public set');
    expect(
      JSON.parse(expectSuccess(await iam(['public', 'list', '--output', 'json']), 'public list').stdout),
    ).toEqual(['apollo/lander']);
    expect((await fetch(`${server.url}/v2/apollo/lander/tags/list`)).status).toBe(404); // public, and empty

    expectSuccess(await iam(['bindings', 'delete', binding.id]), 'bindings delete');
    const users = JSON.parse(
      expectSuccess(await iam(['users', 'list', '--output', 'json']), 'users list').stdout,
    ) as { id: string }[];
    expect(users.map((u) => u.id)).toContain(created.user.id);
  });

  it('fails with one line that carries the server’s reason', async () => {
    const badRole = await iam([
      'bindings',
      'create',
      '--principal',
      'user:00000000-0000-0000-0000-000000000000',
      '--role',
      'god',
      '--org',
      'apollo',
    ]);
    expect(badRole.code).toBe(1);
    expect(badRole.stderr.trim().split('\n')).toHaveLength(1);
    expect(badRole.stderr).toMatch(
      /^palisade: role: must be one of owner, editor, viewer, pusher, puller \(PALISADE_BAD_REQUEST\)/,
    );

    const anonymous = await runCli(['iam', 'whoami', '--server', server.url], {
      XDG_CONFIG_HOME: temp.make(),
    });
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr.trim()).toBe(
      `palisade: not signed in to ${server.url} (or the sign-in expired); run palisade auth login --server ${server.url}`,
    );
    expect(Object.keys(childEnv())).not.toContain('PALISADE_TOKEN');
  });
});
