// The CLI side of Palisade's OAuth endpoints: the device flow (RFC 8628) with its polling rules,
// refresh-token rotation and revocation. Errors come back as one readable line.
import { setTimeout as delay } from 'node:timers/promises';
import type { StoredCredential } from './credentials.js';

export const CLI_CLIENT_ID = 'palisade-cli';

export interface DeviceStart {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval: number;
}

interface TokenBody {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
  scope?: string;
}

export class OAuthClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The server's origin as the CLI addresses it (no trailing slash, no path). */
export function normalizeServer(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`--server ${server} is not a URL; use e.g. https://registry.example.com`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new Error(`--server ${server} must be http(s)`);
  return url.origin;
}

async function form(
  server: string,
  path: string,
  params: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  let response: Response;
  try {
    response = await fetch(`${server}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams(params).toString(),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    const cause =
      error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new Error(`cannot reach ${server}: ${cause}`, { cause: error });
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: response.status, body };
}

function fail(body: Record<string, unknown>, status: number): never {
  const code = typeof body.error === 'string' ? body.error : `http_${status}`;
  const description =
    typeof body.error_description === 'string' ? body.error_description : `the server answered ${status}`;
  throw new OAuthClientError(code, description);
}

export async function startDeviceFlow(
  server: string,
  scope: string,
  clientId = CLI_CLIENT_ID,
): Promise<DeviceStart> {
  const { status, body } = await form(server, '/oauth/device_authorization', { client_id: clientId, scope });
  if (status !== 200) fail(body, status);
  return body as unknown as DeviceStart;
}

/** Polls until approved, denied or expired; honours `interval` and `slow_down`. */
export async function pollDeviceFlow(
  server: string,
  start: DeviceStart,
  clientId = CLI_CLIENT_ID,
  signal?: AbortSignal,
): Promise<StoredCredential> {
  let interval = Math.max(1, start.interval);
  const deadline = Date.now() + start.expires_in * 1000;
  while (Date.now() < deadline) {
    await delay(interval * 1000, undefined, { signal });
    const { status, body } = await form(server, '/oauth/token', {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: start.device_code,
      client_id: clientId,
    });
    if (status === 200) return toCredential(body as unknown as TokenBody);
    if (body.error === 'authorization_pending') continue;
    if (body.error === 'slow_down') {
      interval += 5;
      continue;
    }
    fail(body, status);
  }
  throw new OAuthClientError(
    'expired_token',
    'the code expired before it was approved; run palisade auth login again',
  );
}

export async function refreshCredential(
  server: string,
  refreshToken: string,
  clientId = CLI_CLIENT_ID,
): Promise<StoredCredential> {
  const { status, body } = await form(server, '/oauth/token', {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: clientId,
  });
  if (status !== 200) fail(body, status);
  return toCredential(body as unknown as TokenBody);
}

/** RFC 8693: trades a workload's OIDC token for a Palisade access token under a trust policy. */
export async function exchangeWorkloadToken(
  server: string,
  identity: string,
  subjectToken: string,
): Promise<StoredCredential> {
  const { status, body } = await form(server, '/oauth/token', {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: subjectToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    identity,
  });
  if (status !== 200) fail(body, status);
  return toCredential(body as unknown as TokenBody);
}

export async function revokeToken(server: string, token: string): Promise<void> {
  await form(server, '/oauth/revoke', { token });
}

function toCredential(body: TokenBody): StoredCredential {
  return {
    access_token: body.access_token,
    expires_at: Math.floor(Date.now() / 1000) + body.expires_in,
    ...(body.refresh_token ? { refresh_token: body.refresh_token } : {}),
    ...(body.scope ? { scope: body.scope } : {}),
  };
}
