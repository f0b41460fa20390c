// The sink policy: which URLs and addresses deliveries may go to, and the connection-time guard
// that catches a name resolving somewhere it may not (DNS rebinding), plus the bounded client.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SinkClient } from './sink-client.js';
import { guardedLookup, refusalOf } from '../lib/outbound.js';
import { checkSinkUrl, type SinkPolicy } from './sink-url.js';

const production: SinkPolicy = { dev: false, allowedNetworks: [] };
const dev: SinkPolicy = { dev: true, allowedNetworks: [] };
const allowing: SinkPolicy = { dev: false, allowedNetworks: ['10.20.0.0/16', 'fd12:3456::/32'] };

describe('refusalOf', () => {
  it.each([
    ['93.184.216.34', production, undefined],
    ['2606:2800:220:1:248:1893:25c8:1946', production, undefined],
    ['10.1.2.3', production, /private/],
    ['172.16.0.1', production, /private/],
    ['192.168.1.1', production, /private/],
    ['127.0.0.1', production, /loopback/],
    ['127.0.0.1', dev, undefined],
    ['::1', production, /loopback/],
    ['::1', dev, undefined],
    ['169.254.169.254', dev, /link-local/],
    ['fe80::1', production, /link-local/],
    ['fc00::1', production, /unique-local/],
    ['100.64.0.1', production, /carrier-grade NAT/],
    ['0.0.0.0', production, /unspecified/],
    ['224.0.0.1', production, /multicast/],
    ['255.255.255.255', production, /broadcast/],
    ['240.0.0.1', production, /reserved/],
    ['::ffff:192.168.0.1', production, /private/],
    ['::ffff:127.0.0.1', production, /loopback/],
    ['2002:a00:1::', production, /non-public \(6to4\)/],
    ['10.20.5.5', allowing, undefined],
    ['10.21.0.1', allowing, /private/],
    ['fd12:3456::9', allowing, undefined],
  ])('%s', (address, policy, expected) => {
    const refusal = refusalOf(address, policy);
    if (expected === undefined) expect(refusal).toBeUndefined();
    else expect(refusal).toMatch(expected);
  });
});

describe('checkSinkUrl', () => {
  it('allows https anywhere public and plain http only to loopback in development mode', () => {
    expect(checkSinkUrl('https://siem.example.com:8443/in?x=1', production).href).toBe(
      'https://siem.example.com:8443/in?x=1',
    );
    expect(checkSinkUrl('http://localhost:9000/hook', dev).host).toBe('localhost:9000');
    expect(checkSinkUrl('http://[::1]:9000/hook', dev).hostname).toBe('[::1]');
    expect(() => checkSinkUrl('http://localhost:9000/hook', production)).toThrow(/must use https/);
    expect(() => checkSinkUrl('http://siem.example.com/hook', dev)).toThrow(/must use https/);
    expect(() => checkSinkUrl('https://10.20.1.1/hook', production)).toThrow(/private/);
    expect(checkSinkUrl('https://10.20.1.1/hook', allowing).hostname).toBe('10.20.1.1');
    expect(() => checkSinkUrl('javascript:alert(1)', dev)).toThrow(/https/);
    expect(() => checkSinkUrl('file:///etc/passwd', dev)).toThrow(/https/);
  });
});

describe('guardedLookup', () => {
  const lookup = (hostname: string, policy: SinkPolicy) =>
    new Promise<string>((resolve, reject) =>
      guardedLookup(policy)(hostname, {}, (error, address) =>
        error ? reject(error) : resolve(address as string),
      ),
    );

  it('refuses a name that resolves to a refused address at connection time', async () => {
    await expect(lookup('localhost', production)).rejects.toMatchObject({
      code: 'EOUTBOUNDREFUSED',
      message: expect.stringMatching(/loopback/),
    });
    await expect(lookup('localhost', dev)).resolves.toMatch(/^(127\.0\.0\.1|::1)$/);
  });
});

describe('SinkClient', () => {
  let server: Server;
  let base: string;
  const client = new SinkClient(dev, { timeoutMs: 300, maxResponseBytes: 1024 });

  beforeAll(async () => {
    server = createServer((request, response) => {
      request.resume();
      if (request.url === '/hang') return; // never answers
      if (request.url === '/redirect')
        return void response.writeHead(302, { location: 'http://169.254.169.254/' }).end();
      if (request.url === '/flood') {
        response.writeHead(200);
        const chunk = Buffer.alloc(64 * 1024, 'x');
        const pump = () => {
          while (response.write(chunk)) {
            if (response.destroyed) return;
          }
          response.once('drain', pump);
        };
        pump();
        return;
      }
      response.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    client.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('gives up on a sink that does not answer in time', async () => {
    await expect(client.send(`${base}/hang`, {}, '{}')).rejects.toThrow(/no answer within 300 ms/);
  });

  it('reads no more of an answer than allowed', async () => {
    await expect(client.send(`${base}/flood`, {}, '{}')).resolves.toEqual({ status: 200 });
  });

  it('does not follow redirects', async () => {
    await expect(client.send(`${base}/redirect`, {}, '{}')).resolves.toEqual({ status: 302 });
  });

  it('re-checks the URL against the policy at send time', async () => {
    const strict = new SinkClient(production, { timeoutMs: 300, maxResponseBytes: 1024 });
    await expect(strict.send(`${base}/ok`, {}, '{}')).rejects.toThrow(/must use https/);
    strict.close();
    await expect(client.send(`${base}/ok`, {}, '{}')).resolves.toEqual({ status: 204 });
  });
});
