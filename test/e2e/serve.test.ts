// The `palisade` command as an operator meets it: the ready line, --help, clean shutdown on
// SIGTERM/SIGINT that lets an in-flight upload finish, one-line errors for invalid configuration,
// the flags > env > file precedence, the 127.0.0.1 default bind, and that no request without a
// valid token reads or changes anything, from loopback or from any other address (checked over
// real sockets, through a non-loopback address of this machine), while a host-local admin token
// works from anywhere. Server behaviour runs on SQLite, and on PostgreSQL when
// PALISADE_TEST_DATABASE_URL is set.
import { Agent, request as httpRequest } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OCI_CONFIG,
  OCI_MANIFEST,
  TempDirs,
  authorizedFetch,
  e2eDatabase,
  runCli,
  sha256,
  startServer,
  stopAllServers,
  testDialects,
  waitFor,
  type E2eDatabase,
} from './harness.js';

const temp = new TempDirs();
afterAll(async () => {
  await stopAllServers();
  temp.removeAll();
});

let token = '';
/** Requests carry the current server's admin token unless they set their own Authorization. */
const fetch = authorizedFetch(() => token);
const anonymousFetch = globalThis.fetch;

const READY = /^Palisade listening on http:\/\/127\.0\.0\.1:(\d+)$/;

/**
 * stdout holds the ready line once, as a plain line of its own; everything else there is a JSON
 * log line (here: the warning with the first administrator's one-time enrollment link).
 */
function expectReadyLine(stdout: string): void {
  const lines = stdout.split('\n').filter(Boolean);
  expect(lines.filter((line) => READY.test(line))).toHaveLength(1);
  for (const line of lines.filter((l) => !READY.test(l)))
    expect(() => JSON.parse(line) as unknown).not.toThrow();
}

/** A non-loopback address of this machine per family, if it has one. */
function externalAddress(family: 'IPv4' | 'IPv6'): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.internal || address.family !== family) continue;
      if (family === 'IPv6' && address.address.toLowerCase().startsWith('fe80')) continue; // needs a scope
      return address.address;
    }
  }
  return undefined;
}
const externalV4 = externalAddress('IPv4');
const externalV6 = externalAddress('IPv6');
if (!externalV4)
  console.warn('non-loopback IPv4 tests are SKIPPED: this machine has no non-loopback IPv4 address');
if (!externalV6)
  console.warn('non-loopback IPv6 tests are SKIPPED: this machine has no non-loopback IPv6 address');

function urlFor(address: string, port: number, path: string): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}${path}`;
}

/** Ports free right now (bound together, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createNetServer>>((resolveListen) => {
          const server = createNetServer();
          server.listen(0, '127.0.0.1', () => resolveListen(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

describe('palisade CLI', () => {
  it('prints exactly the ready line on stdout, and serves /v2/, /healthz and /readyz', async () => {
    const server = await startServer();
    expect(server.host).toBe('127.0.0.1');
    expectReadyLine(server.stdout());
    const anonymous = await anonymousFetch(`${server.url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(anonymous.headers.get('www-authenticate')).toBe(
      'Bearer realm="http://palisade.e2e/token",service="palisade"',
    );
    token = await server.adminToken();
    const base = await fetch(`${server.url}/v2/`);
    expect(base.status).toBe(200);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', storage: 'ok' } });
    expect(await server.stop()).toBe(0);
  });

  it('answers --help for the program and for serve, and --version', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: palisade /);
    expect(top.stdout).toMatch(/\bserve\b/);

    const serve = await runCli(['serve', '--help']);
    expect(serve.code).toBe(0);
    expect(serve.stdout).toMatch(/^Usage: palisade serve /);
    for (const flag of [
      '--host',
      '--port',
      '--data-dir',
      '--database-url',
      '--config',
      '--dev',
      '--log-level',
    ]) {
      expect(serve.stdout).toContain(flag);
    }

    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits 1 on an unknown command', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/unknown command/i);
  });

  interface BadConfig {
    name: string;
    args?: string[];
    env?: Record<string, string>;
    yaml?: string;
    field: string;
  }
  const badConfigs: BadConfig[] = [
    { name: 'PALISADE_PORT=notaport', env: { PALISADE_PORT: 'notaport' }, field: 'port' },
    { name: '--port 70000', args: ['--port', '70000'], field: 'port' },
    {
      name: 'YAML registry.gc.intervalSeconds: "x"',
      yaml: 'registry:\n  gc:\n    intervalSeconds: "x"\n',
      field: 'registry.gc.intervalSeconds',
    },
    { name: 'YAML with an unknown top-level key', yaml: 'port: 0\ncolour: blue\n', field: 'colour' },
    {
      name: 'YAML with an unknown nested key',
      yaml: 'registry:\n  gc:\n    everySeconds: 30\n',
      field: 'registry.gc.everySeconds',
    },
    {
      name: 'env below a minimum (upload expiry 59 s)',
      env: { PALISADE_REGISTRY__GC__UPLOAD_EXPIRY_SECONDS: '59' },
      field: 'registry.gc.uploadExpirySeconds',
    },
    { name: 'an unknown PALISADE_ variable', env: { PALISADE_COLOUR: 'blue' }, field: 'colour' },
    { name: 'YAML that does not parse', yaml: 'port: [1, 2\n', field: 'not valid YAML' },
    {
      name: 'a config file that does not exist',
      args: ['--config', '/nonexistent/palisade.yaml'],
      field: '/nonexistent/palisade.yaml',
    },
  ];

  it.each(badConfigs)('refuses $name: exit 1, one stderr line naming it', async (bad) => {
    const dir = temp.make();
    const args = ['serve', '--data-dir', join(dir, 'data'), ...(bad.args ?? [])];
    if (bad.yaml !== undefined) {
      writeFileSync(join(dir, 'palisade.yaml'), bad.yaml);
      args.push('--config', join(dir, 'palisade.yaml'));
    }
    const result = await runCli(args, bad.env);
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('Palisade listening');
    const lines = result.stderr.split('\n').filter((line) => line.length > 0);
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^palisade: invalid configuration: /);
    expect(lines[0]).toContain(bad.field);
  });

  it('takes flags over PALISADE_* env over the YAML file (seen on the ready line)', async () => {
    const dir = temp.make();
    const [filePort, envPort, flagPort] = await freePorts(3);
    const file = join(dir, 'palisade.yaml');
    // Every 127.0.0.0/8 address is loopback on Linux, so each layer can name its own host.
    // The file's invalid GC interval is overridden by the environment: layers merge per key.
    writeFileSync(file, `host: 127.0.0.2\nport: ${filePort}\nregistry:\n  gc:\n    intervalSeconds: "x"\n`);
    const env = {
      PALISADE_HOST: '127.0.0.3',
      PALISADE_PORT: String(envPort),
      PALISADE_REGISTRY__GC__INTERVAL_SECONDS: '60',
    };

    const flags = await startServer({
      bare: true,
      env,
      args: ['--config', file, '--host', '127.0.0.4', '--port', String(flagPort)],
    });
    expect([flags.host, flags.port]).toEqual(['127.0.0.4', flagPort]);
    expect((await fetch(`${flags.url}/healthz`)).status).toBe(200);
    expect(await flags.stop()).toBe(0);

    const fromEnv = await startServer({ bare: true, env, args: ['--config', file] });
    expect([fromEnv.host, fromEnv.port]).toEqual(['127.0.0.3', envPort]);
    expect((await fetch(`${fromEnv.url}/healthz`)).status).toBe(200);
    expect(await fromEnv.stop()).toBe(0);

    // PALISADE_CONFIG names the file too; only the GC fix-up comes from the environment.
    const fromFile = await startServer({
      bare: true,
      env: { PALISADE_CONFIG: file, PALISADE_REGISTRY__GC__INTERVAL_SECONDS: '60' },
    });
    expect([fromFile.host, fromFile.port]).toEqual(['127.0.0.2', filePort]);
    expect((await fetch(`${fromFile.url}/healthz`)).status).toBe(200);
    expect(await fromFile.stop()).toBe(0);
  });

  it('exits 0 on a SIGTERM sent the moment the ready line appears', async () => {
    // A supervisor may signal as soon as it sees the ready line; the handlers must be in place by then.
    const servers = await Promise.all(
      Array.from({ length: 6 }, () =>
        startServer().then((s) => {
          s.process.kill('SIGTERM');
          return s.exited;
        }),
      ),
    );
    expect(servers).toEqual(servers.map(() => ({ code: 0, signal: null })));
  });

  it('binds 127.0.0.1 by default', async () => {
    const server = await startServer({ bare: true, env: { PALISADE_PORT: '0' } });
    expectReadyLine(server.stdout());
    expect(server.host).toBe('127.0.0.1');
    expect((await anonymousFetch(`${server.url}/v2/`)).status).toBe(401);
    if (externalV4) {
      // Not reachable from the network at all.
      await expect(fetch(urlFor(externalV4, server.port, '/v2/'))).rejects.toThrow();
    }
    expect(await server.stop()).toBe(0);
  });
});

describe.each(testDialects())('palisade serve lifecycle and access policy (%s)', (dialect) => {
  let database: E2eDatabase;

  beforeAll(async () => {
    database = await e2eDatabase(dialect);
  });
  afterAll(async () => {
    await stopAllServers();
    await database.dispose();
  });

  /**
   * Streams a PATCH, sends SIGTERM once the first chunk is on the server, then sends the rest.
   * The request must complete (202, every byte acknowledged), the process must exit 0 promptly,
   * and after a restart the session must hold every acknowledged byte.
   */
  async function patchAcrossSigterm(keepAlive: boolean): Promise<void> {
    // A 10 s shutdown budget (default 30) keeps a hung shutdown from stalling the suite.
    const server = await startServer({
      databaseUrl: database.databaseUrl,
      env: { PALISADE_SHUTDOWN_TIMEOUT_SECONDS: '10' },
    });
    token = await server.adminToken();
    const start = await fetch(`${server.url}/v2/shutdown/slow/blobs/uploads/`, { method: 'POST' });
    expect(start.status).toBe(202);
    const location = start.headers.get('location')!;
    // The first chunk is bigger than a direct I/O buffer (4 MiB), so part of it reaches the upload
    // file while the request is still open, whichever way the server writes.
    const chunks = [
      randomBytes(5 * 1024 * 1024),
      ...Array.from({ length: 7 }, () => randomBytes(256 * 1024)),
    ];
    const total = chunks.reduce((n, c) => n + c.length, 0);

    const agent = new Agent({ keepAlive });
    const patch = httpRequest(new URL(location, server.url), {
      method: 'PATCH',
      agent,
      headers: { 'Content-Type': 'application/octet-stream', Authorization: `Bearer ${token}` },
    });
    const response = new Promise<{ status: number | undefined; range: string | undefined }>(
      (resolveResponse, rejectResponse) => {
        patch.on('response', (res) => {
          res.resume();
          res.on('end', () => resolveResponse({ status: res.statusCode, range: res.headers.range }));
        });
        patch.on('error', rejectResponse);
      },
    );
    response.catch(() => undefined); // awaited below; keeps an early failure from going unhandled
    patch.write(chunks[0]);
    await waitFor('the first chunk to reach the server', async () => {
      const status = await fetch(new URL(location, server.url));
      return status.status === 204 && status.headers.get('range') !== '0-0' ? true : undefined;
    });

    server.process.kill('SIGTERM');
    const signalledAt = Date.now();
    await delay(300);
    // Closing: new requests are refused (connection refused, or 503 on a kept-alive socket).
    const late = await fetch(`${server.url}/v2/`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(['refused', 503]).toContain(late);
    expect(server.process.exitCode).toBeNull(); // still finishing the upload

    for (const chunk of chunks.slice(1)) {
      patch.write(chunk);
      await delay(25);
    }
    patch.end();
    expect(await response).toEqual({ status: 202, range: `0-${total - 1}` });
    const exit = await server.exited;
    const shutdownMs = Date.now() - signalledAt;
    agent.destroy();

    // Every acknowledged byte is there after a restart: complete the upload and read it back.
    const again = await startServer({ databaseUrl: database.databaseUrl, dataDir: server.dataDir });
    // Same data and issuer: the token minted before the restart is still good.
    const status = await fetch(new URL(location, again.url));
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${total - 1}`);
    const data = Buffer.concat(chunks);
    const digest = sha256(data);
    const put = await fetch(`${new URL(location, again.url).toString()}?digest=${digest}`, { method: 'PUT' });
    expect(put.status).toBe(201);
    const blob = await fetch(`${again.url}/v2/shutdown/slow/blobs/${digest}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(data)).toBe(true);
    expect(await again.stop()).toBe(0);

    expect(exit, `exit after SIGTERM; stderr: ${server.stderr()}`).toEqual({ code: 0, signal: null });
    expect(shutdownMs, 'time from SIGTERM to exit').toBeLessThan(5_000);
  }

  it('on SIGTERM an in-flight upload PATCH finishes (202), then the process exits 0', async () => {
    await patchAcrossSigterm(false);
  });

  it('on SIGTERM an in-flight upload PATCH finishes (202), then the process exits 0 promptly although the client keeps its connection alive (as skopeo and podman do)', async () => {
    await patchAcrossSigterm(true);
  });

  it('exits 0 on SIGINT, promptly even with an idle keep-alive connection', async () => {
    const server = await startServer({ databaseUrl: database.databaseUrl });
    token = await server.adminToken();
    expect((await fetch(`${server.url}/v2/`)).status).toBe(200); // leaves a kept-alive socket
    const started = Date.now();
    expect(await server.stop('SIGINT')).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(server.stderr()).toBe('');
  });

  /** Pushes a tiny image from loopback so there is something to read and to try to delete. */
  async function pushSample(
    baseUrl: string,
    repository: string,
  ): Promise<{ manifest: string; blob: string }> {
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const blob = sha256(config);
    const upload = await fetch(`${baseUrl}/v2/${repository}/blobs/uploads/?digest=${blob}`, {
      method: 'POST',
      body: config,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(upload.status).toBe(201);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: blob, size: config.length },
      layers: [],
    });
    const put = await fetch(`${baseUrl}/v2/${repository}/manifests/v1`, {
      method: 'PUT',
      body: manifest,
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    expect(put.status).toBe(201);
    return { manifest: put.headers.get('docker-content-digest')!, blob };
  }

  /** 401 with the registry's Bearer challenge and an OCI error body. */
  async function expectUnauthorized(response: Response, what: string): Promise<void> {
    expect(response.status, what).toBe(401);
    expect(response.headers.get('www-authenticate'), what).toMatch(
      /^Bearer realm="http:\/\/palisade\.e2e\/token",service="palisade"/,
    );
    const body = (await response.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]!.code, what).toBe('UNAUTHORIZED');
  }

  /**
   * Without a token nothing is readable or writable, from `remote` (a non-loopback address) or from
   * loopback alike; with the admin token, `remote` may push, and nothing the refusals touched changed.
   */
  async function checkTokenPolicy(remote: (path: string) => string, local: (path: string) => string) {
    token = await server().adminToken();
    const sample = await pushSample(remote(''), 'policy/app');
    const opened = await fetch(remote('/v2/policy/app/blobs/uploads/'), { method: 'POST' });
    expect(opened.status).toBe(202);
    const session = opened.headers.get('location')!;
    const data = Buffer.from('no token');
    const manifest = await (
      await fetch(remote('/v2/policy/app/manifests/v1'), { headers: { Accept: OCI_MANIFEST } })
    ).text();

    for (const at of [remote, local]) {
      const attempts: [string, string, RequestInit][] = [
        ['GET', '/v2/', {}],
        ['GET', '/v2/policy/app/tags/list', {}],
        ['GET', '/v2/_catalog', {}],
        ['GET', '/v2/policy/app/manifests/v1', {}],
        ['GET', `/v2/policy/app/blobs/${sample.blob}`, {}],
        ['POST', '/v2/x/blobs/uploads/', {}],
        ['POST', `/v2/x/blobs/uploads/?digest=${sha256(data)}`, { body: data }],
        ['POST', `/v2/policy/app/blobs/uploads/?mount=${sample.blob}&from=policy/app`, {}],
        ['PATCH', session, { body: data }],
        ['PUT', `${session}?digest=${sha256(data)}`, { body: data }],
        ['GET', session, {}],
        ['DELETE', session, {}],
        ['PUT', '/v2/policy/app/manifests/v2', { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } }],
        ['DELETE', '/v2/policy/app/manifests/v1', {}],
        ['DELETE', `/v2/policy/app/manifests/${sample.manifest}`, {}],
        ['DELETE', `/v2/policy/app/blobs/${sample.blob}`, {}],
      ];
      for (const [method, path, init] of attempts) {
        await expectUnauthorized(await anonymousFetch(at(path), { ...init, method }), `${method} ${path}`);
      }
      expect((await anonymousFetch(at('/metrics'))).status).toBe(401);
    }

    // Nothing changed: the tag, the blob and the open session are as the admin left them.
    const tags = (await (await fetch(local('/v2/policy/app/tags/list'))).json()) as { tags: string[] };
    expect(tags.tags).toEqual(['v1']);
    expect((await fetch(local('/v2/x/tags/list'))).status).toBe(404);
    expect((await fetch(local(`/v2/policy/app/blobs/${sample.blob}`), { method: 'HEAD' })).status).toBe(200);
    const status = await fetch(local(session));
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
    expect((await fetch(remote('/metrics'))).status).toBe(200);
  }

  let current: Awaited<ReturnType<typeof startServer>> | undefined;
  const server = () => current!;

  it.skipIf(!externalV4)(
    `bound to 0.0.0.0: without a token ${externalV4 ?? 'a non-loopback address'} and 127.0.0.1 get 401 for everything; the admin token works remotely`,
    async () => {
      current = await startServer({ databaseUrl: database.databaseUrl, args: ['--host', '0.0.0.0'] });
      expect(server().host).toBe('0.0.0.0');
      await checkTokenPolicy(
        (path) => urlFor(externalV4!, server().port, path),
        (path) => urlFor('127.0.0.1', server().port, path),
      );
      expect(await server().stop()).toBe(0);
    },
  );

  it.skipIf(!externalV6 || !externalV4)(
    `bound to :: (dual stack): ${externalV6 ?? 'IPv6'}, IPv4-mapped ${externalV4 ?? 'IPv4'} and ::1 alike need a token`,
    async () => {
      current = await startServer({ databaseUrl: database.databaseUrl, args: ['--host', '::'] });
      expect(server().host).toBe('[::]');
      await checkTokenPolicy(
        (path) => urlFor(externalV6!, server().port, path),
        (path) => urlFor('::1', server().port, path),
      );
      // IPv4 clients arrive as ::ffff:a.b.c.d: no address is trusted without a token.
      await expectUnauthorized(
        await anonymousFetch(urlFor('127.0.0.1', server().port, '/v2/y/blobs/uploads/'), { method: 'POST' }),
        'POST from 127.0.0.1',
      );
      expect(
        (await fetch(urlFor(externalV4!, server().port, '/v2/y/blobs/uploads/'), { method: 'POST' })).status,
      ).toBe(202);
      expect(await server().stop()).toBe(0);
    },
  );
});
