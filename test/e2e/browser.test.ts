// A real browser against `palisade serve`: Debian's Chromium driven by playwright-core, with the
// Chrome DevTools WebAuthn virtual authenticator (user verification on). It enrolls the first
// administrator through the one-time link the server logged, signs out, signs in with the passkey,
// and the pages raise no CSP or Trusted Types violation on the way.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, stopAllServers, type RunningServer } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available)
  console.warn('browser e2e tests are SKIPPED: /usr/bin/chromium is missing (apt-get install chromium)');

describe.skipIf(!available)('passkeys in a real browser', () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const violations: string[] = [];

  beforeAll(async () => {
    // WebAuthn needs a domain as relying party id: serve as http://localhost:<port>.
    server = await startServer({ args: ['--host', 'localhost'], publicUrl: false });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    const context = await browser.newContext();
    page = await context.newPage();
    page.on('console', (message) => {
      if (/Content Security Policy|Trusted Type|Refused to/i.test(message.text()))
        violations.push(message.text());
    });
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
  });

  afterAll(async () => {
    await browser?.close();
    await stopAllServers();
  });

  const base = () => `http://localhost:${server.port}`;

  it('enrolls the first administrator from the logged one-time link', async () => {
    const logged = server
      .stdout()
      .split('\n')
      .map((line) => /"enrollmentUrl":"([^"]+)"/.exec(line)?.[1])
      .find(Boolean);
    expect(logged).toMatch(new RegExp(`^${base()}/enroll#`));
    await page.goto(logged!);
    // The secret is taken out of the address bar as soon as the page has read it.
    expect(page.url()).toBe(`${base()}/enroll`);
    await page.fill('#display-name', 'Grace Hopper');
    await page.click('button[type=submit]');
    await page.waitForURL(`${base()}/account`);
    await expect(page.textContent('h1')).resolves.toBe('Grace Hopper');
    await expect(page.textContent('main')).resolves.toContain('administrator');
    await expect(page.textContent('tbody')).resolves.toContain('first passkey');
  });

  it('signs out, then signs back in with the passkey alone', async () => {
    await page.click('form[action="/auth/signout"] button');
    await page.waitForURL(`${base()}/signin`, { timeout: 5000 }).catch(async (error: unknown) => {
      throw new Error(
        `${String(error)}\nat ${page.url()}: ${await page.content()}\nserver: ${server.stdout().slice(-2000)}`,
      );
    });
    await page.goto(`${base()}/account`);
    await page.waitForURL(/\/signin\?return_to=%2Faccount$/);
    await page.click('#passkey-signin');
    await page.waitForURL(`${base()}/account`);
    await expect(page.textContent('h1')).resolves.toBe('Grace Hopper');
    await expect(page.textContent('main')).resolves.toMatch(/Signed in with\s+(hwk|swk), user, mfa/);
  });

  it('approves a device code for the CLI from the signed-in browser', async () => {
    const start = await fetch(`${base()}/oauth/device_authorization`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'client_id=palisade-cli&scope=registry',
    });
    const device = (await start.json()) as {
      device_code: string;
      user_code: string;
      verification_uri_complete: string;
    };
    expect(device.verification_uri_complete).toBe(`${base()}/device?user_code=${device.user_code}`);
    await page.goto(device.verification_uri_complete);
    await expect(page.textContent('main')).resolves.toContain('palisade-cli');
    await page.click('button[value=approve]');
    await page.waitForFunction("document.querySelector('h1')?.textContent === 'Device signed in'");
    const token = await fetch(`${base()}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        device_code: device.device_code,
        client_id: 'palisade-cli',
      }).toString(),
    });
    expect(token.status).toBe(200);
    const body = (await token.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe('registry');
    expect(
      (await fetch(`${base()}/v2/`, { headers: { authorization: `Bearer ${body.access_token}` } })).status,
    ).toBe(200);
  });

  it('refuses a second use of the enrollment link in the browser too', async () => {
    const logged = server
      .stdout()
      .split('\n')
      .map((line) => /"enrollmentUrl":"([^"]+)"/.exec(line)?.[1])
      .find(Boolean)!;
    await page.goto(logged);
    await page.fill('#display-name', 'Mallory');
    await page.click('button[type=submit]');
    await page.waitForFunction(
      "(document.getElementById('message')?.textContent ?? '').includes('already used')",
    );
  });

  it('raised no CSP or Trusted Types violation on any page', () => {
    expect(violations).toEqual([]);
  });
});
