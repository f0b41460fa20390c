// Outbound calls go only where they may (ARCHITECTURE rule 7): the server contacts hosts that
// configuration or a trust policy names, and never an address outside the public unicast space —
// private, loopback, link-local (cloud metadata), CGNAT, multicast, reserved, IPv6 tunnelling —
// unless an administrator allowed its network (outbound.allowedNetworks). The check runs on the
// address actually connected to (a `lookup` for sockets), so a name that later resolves
// elsewhere is refused too (DNS rebinding). Used by event delivery, workload-issuer discovery and
// vulnerability database mirrors.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { createWriteStream } from 'node:fs';
import { isIP } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import ipaddr from 'ipaddr.js';

export interface AddressPolicy {
  /** Development mode: loopback addresses are allowed (plain-http test issuers and sinks). */
  dev: boolean;
  /** CIDR networks an administrator allows although they are not public (e.g. 10.20.0.0/16). */
  allowedNetworks: readonly string[];
}

type Parsed = [ipaddr.IPv4 | ipaddr.IPv6, number];

const networksCache = new WeakMap<readonly string[], Parsed[]>();

function networks(policy: AddressPolicy): Parsed[] {
  let parsed = networksCache.get(policy.allowedNetworks);
  if (!parsed) {
    parsed = policy.allowedNetworks.map((cidr) => ipaddr.parseCIDR(cidr));
    networksCache.set(policy.allowedNetworks, parsed);
  }
  return parsed;
}

/** True when every entry is a CIDR network (for the configuration schema). */
export function isCidr(value: string): boolean {
  return ipaddr.isValidCIDR(value);
}

/** Why an address may not be connected to, or undefined when it may. */
export function refusalOf(address: string, policy: AddressPolicy): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  // ::ffff:10.0.0.1 is 10.0.0.1: judge the IPv4 address it carries.
  const ip = ipaddr.process(address);
  for (const [network, bits] of networks(policy)) {
    if (network.kind() === ip.kind() && ip.match(network, bits)) return undefined;
  }
  const range = ip.range();
  if (range === 'unicast') return undefined;
  if (range === 'loopback' && policy.dev) return undefined;
  return `${address} is a ${describeRange(range)} address; an administrator can allow its network in outbound.allowedNetworks`;
}

function describeRange(range: string): string {
  return (
    {
      private: 'private',
      loopback: 'loopback',
      linkLocal: 'link-local',
      uniqueLocal: 'unique-local',
      carrierGradeNat: 'carrier-grade NAT',
      unspecified: 'unspecified',
      broadcast: 'broadcast',
      multicast: 'multicast',
      reserved: 'reserved',
    }[range] ?? `non-public (${range})`
  );
}

/** localhost, or a loopback IP literal (bracketed IPv6 too). */
export function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  const bare = hostname.replace(/^\[|\]$/g, '');
  return ipaddr.isValid(bare) && ipaddr.process(bare).range() === 'loopback';
}

/** Why a host may not be contacted (an address of it is refused, or it does not resolve), if so. */
export async function hostRefusal(hostname: string, policy: AddressPolicy): Promise<string | undefined> {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return refusalOf(host, policy);
  let addresses: LookupAddress[];
  try {
    addresses = await new Promise<LookupAddress[]>((resolve, reject) =>
      dnsLookup(host, { all: true }, (error, found) => (error ? reject(error) : resolve(found))),
    );
  } catch {
    return `${host} does not resolve`;
  }
  for (const { address } of addresses) {
    const refusal = refusalOf(address, policy);
    if (refusal) return `${host} resolves to ${refusal}`;
  }
  return undefined;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for sockets to sinks: resolves as usual, then refuses the connection if any address
 * is not allowed, so the check covers the address actually connected to.
 */
export function guardedLookup(policy: AddressPolicy) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      for (const { address } of addresses) {
        const refusal = refusalOf(address, policy);
        if (refusal) {
          const refused = new Error(`address refused: ${refusal}`) as NodeJS.ErrnoException;
          refused.code = 'EOUTBOUNDREFUSED';
          return callback(refused, '');
        }
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

export interface FetchedJson {
  body: unknown;
  /** From the response's Cache-Control max-age (or s-maxage), when it has one. */
  maxAgeSeconds?: number;
}

/** How a guarded GET's response handler finishes the exchange. */
interface Settle<T> {
  resolve(value: T): void;
  fail(error: Error): void;
}

/**
 * A GET to an allowed address (checked on the literal address here and at connect time by the
 * lookup), with one deadline for the whole exchange and network errors turned into short messages.
 * `onResponse` reads the answer and settles.
 */
function guardedGet<T>(
  url: URL,
  options: { policy: AddressPolicy; timeoutMs: number; headers: Record<string, string> },
  onResponse: (response: http.IncomingMessage, settle: Settle<T>) => void,
): Promise<T> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    const refusal = refusalOf(host, options.policy);
    if (refusal) return Promise.reject(new Error(`address refused: ${refusal}`));
  }
  return new Promise<T>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'GET',
      lookup: guardedLookup(options.policy),
      headers: { 'user-agent': 'palisade', ...options.headers },
    });
    const deadline = setTimeout(
      () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    const settle: Settle<T> = {
      resolve(value) {
        clearTimeout(deadline);
        resolve(value);
      },
      fail(error) {
        clearTimeout(deadline);
        reject(error);
      },
    };
    request.on('error', (error: NodeJS.ErrnoException) =>
      settle.fail(
        new Error(error.code === 'ECONNREFUSED' ? 'connection refused' : error.message.slice(0, 200)),
      ),
    );
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      if ((status < 200 || status >= 300) && status !== 304) {
        response.resume();
        settle.fail(new Error(`answered HTTP ${status}`));
        return;
      }
      onResponse(response, settle);
    });
    request.end();
  });
}

/**
 * GET a JSON document from an allowed address, bounded: a deadline for the whole exchange, a cap on
 * the body, no redirects followed. Rejects with a message naming what went wrong (safe to show).
 */
export function getJson(
  url: URL,
  options: { policy: AddressPolicy; timeoutMs: number; maxBytes: number },
): Promise<FetchedJson> {
  return guardedGet<FetchedJson>(
    url,
    { policy: options.policy, timeoutMs: options.timeoutMs, headers: { accept: 'application/json' } },
    (response, settle) => {
      if (response.statusCode === 304) {
        response.resume();
        settle.fail(new Error('answered HTTP 304'));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) {
          response.destroy();
          settle.fail(new Error(`answered more than ${options.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', (error) => settle.fail(error));
      response.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          settle.fail(new Error('answered something that is not JSON'));
          return;
        }
        const cacheControl = String(response.headers['cache-control'] ?? '');
        const age = /(?:^|,)\s*(?:s-)?max-age=(\d{1,9})/.exec(cacheControl)?.[1];
        settle.resolve({
          body,
          ...(age !== undefined && !/no-store|no-cache/.test(cacheControl)
            ? { maxAgeSeconds: Number(age) }
            : {}),
        });
      });
    },
  );
}

export interface DownloadResult {
  status: 'downloaded' | 'not-modified';
  bytes: number;
  etag?: string;
  lastModified?: string;
}

/**
 * GET a (large) file from an allowed address into `path`, bounded like getJson: a deadline, a cap
 * on the size, no redirects. With `etag`/`lastModified` from an earlier download the request is
 * conditional and a 304 leaves `path` untouched. Rejects with a message safe to show.
 */
export function downloadFile(
  url: URL,
  path: string,
  options: {
    policy: AddressPolicy;
    timeoutMs: number;
    maxBytes: number;
    etag?: string;
    lastModified?: string;
  },
): Promise<DownloadResult> {
  const headers: Record<string, string> = {
    ...(options.etag ? { 'if-none-match': options.etag } : {}),
    ...(options.lastModified ? { 'if-modified-since': options.lastModified } : {}),
  };
  return guardedGet<DownloadResult>(
    url,
    { policy: options.policy, timeoutMs: options.timeoutMs, headers },
    (response, settle) => {
      if (response.statusCode === 304) {
        response.resume();
        settle.resolve({
          status: 'not-modified',
          bytes: 0,
          etag: options.etag,
          lastModified: options.lastModified,
        });
        return;
      }
      const etag = typeof response.headers.etag === 'string' ? response.headers.etag : undefined;
      const lastModified = response.headers['last-modified'];
      let bytes = 0;
      const limit = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          bytes += chunk.length;
          if (bytes > options.maxBytes) callback(new Error(`answered more than ${options.maxBytes} bytes`));
          else callback(null, chunk);
        },
      });
      pipeline(response, limit, createWriteStream(path, { mode: 0o600 })).then(
        () =>
          settle.resolve({
            status: 'downloaded',
            bytes,
            ...(etag ? { etag } : {}),
            ...(lastModified ? { lastModified } : {}),
          }),
        (error: Error) => settle.fail(new Error(error.message.slice(0, 200))),
      );
    },
  );
}
