// Event delivery end to end, as a customer sets it up: `palisade serve --dev`, a subscription made
// with `palisade events subscriptions create`, a receiver on loopback that verifies each delivery's
// bearer token exactly as the README shows (the issuer's JWKS over HTTP, its own URL as audience),
// and `list` showing the subscription caught up.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSink, type TestSink } from '../../src/delivery/test-sink.js';
import {
  OCI_CONFIG,
  TempDirs,
  authorizedFetch,
  expectSuccess,
  runCli,
  sha256,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
} from './harness.js';

const temp = new TempDirs();

describe('palisade events subscriptions', () => {
  let server: RunningServer;
  let sink: TestSink;
  let token = '';
  const verified: string[] = [];
  const http = authorizedFetch(() => token);
  const cli = (args: string[]) =>
    runCli(
      [...args, '--server', server.url],
      { PALISADE_TOKEN: token, XDG_CONFIG_HOME: temp.make() },
      60_000,
    );

  beforeAll(async () => {
    server = await startServer({ args: ['--dev'] });
    token = await server.adminToken();
    sink = await startTestSink('/hooks/palisade');
    const { issuer } = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as {
      issuer: string;
    };
    // The receiver: fetches the JWKS once (cached by jose), checks issuer, audience = its own URL,
    // and the organization it expects. Requests that fail verification are refused with 401.
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    const pending: Promise<void>[] = [];
    sink.respond = ({ headers }) => {
      const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1] ?? '';
      pending.push(
        jwtVerify(bearer, jwks, { issuer, audience: sink.url, subject: 'webhook:acme' }).then(
          () => void verified.push(String(headers['ce-id'])),
          () => undefined,
        ),
      );
      return 202;
    };
  });
  afterAll(async () => {
    await sink.close();
    await stopAllServers();
    temp.removeAll();
  });

  it('creates a subscription from the CLI and delivers events the receiver verifies', async () => {
    const created = expectSuccess(
      await cli([
        'events',
        'subscriptions',
        'create',
        '--org',
        'acme',
        '--sink',
        sink.url,
        '--type',
        'dev.palisade.registry.',
        '--output',
        'json',
      ]),
      'subscriptions create',
    );
    const subscription = JSON.parse(created.stdout) as { id: string; status: string };
    expect(subscription.status).toBe('active');

    const blob = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
    const push = await http(`${server.url}/v2/acme/app/blobs/uploads/?digest=${sha256(blob)}`, {
      method: 'POST',
      body: blob,
      headers: { 'Content-Type': OCI_CONFIG },
    });
    expect(push.status).toBe(201);

    await waitFor(
      'the push event at the sink',
      () => (sink.accepted().length > 0 ? true : undefined),
      20_000,
      50,
    );
    await waitFor('its token verified', () => (verified.length > 0 ? true : undefined), 10_000, 50);
    const [delivery] = sink.accepted();
    expect(delivery!.headers['ce-type']).toBe('dev.palisade.registry.blob.pushed.v1');
    expect(delivery!.headers['ce-subject']).toBe(`acme/app@${sha256(blob)}`);
    expect(verified).toEqual([delivery!.headers['ce-id']]);

    const listed = expectSuccess(await cli(['events', 'subscriptions', 'list', '--org', 'acme']), 'list');
    const lines = listed.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+ORG\s+SINK\s+TYPES\s+STATUS\s+DELIVERED\s+LAG\s+LAST_ERROR$/);
    expect(lines[1]).toMatch(
      new RegExp(
        `^${subscription.id}\\s+acme\\s+\\S+\\s+dev\\.palisade\\.registry\\.\\s+active\\s+1\\s+0 events, 0 s`,
      ),
    );

    const bad = await cli([
      'events',
      'subscriptions',
      'create',
      '--org',
      'acme',
      '--sink',
      'http://10.1.2.3/hook',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/sink_url must use https/);

    expectSuccess(await cli(['events', 'subscriptions', 'delete', subscription.id]), 'delete');
    expect(
      expectSuccess(await cli(['events', 'subscriptions', 'list', '--org', 'acme']), 'list').stdout.trim(),
    ).toBe('(none)');
  });
});
