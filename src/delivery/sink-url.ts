// Which sink URLs Palisade will deliver to. A subscription makes the server send requests to an
// address a customer chose, which is exactly how server-side request forgery happens, so: https
// only (plain http to loopback in development mode), no credentials or fragments in the URL, and
// no address outside the public unicast space — private, loopback, link-local (cloud metadata),
// CGNAT, multicast, reserved and IPv6 tunnelling ranges — unless an administrator allow-listed its
// network. The address check runs when the subscription is made (a clear error) and again on
// every connection (a name that later resolves elsewhere is refused: DNS rebinding).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface SinkPolicy {
  /** Development mode: http:// to loopback sinks is allowed. */
  dev: boolean;
  /** CIDR networks an administrator allows although they are not public (e.g. 10.20.0.0/16). */
  allowedNetworks: readonly string[];
}

export const MAX_SINK_URL_LENGTH = 2048;

export class SinkRefused extends Error {}

type Parsed = [ipaddr.IPv4 | ipaddr.IPv6, number];

const networksCache = new WeakMap<readonly string[], Parsed[]>();

function networks(policy: SinkPolicy): Parsed[] {
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
export function refusalOf(address: string, policy: SinkPolicy): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  // ::ffff:10.0.0.1 is 10.0.0.1: judge the IPv4 address it carries.
  const ip = ipaddr.process(address);
  for (const [network, bits] of networks(policy)) {
    if (network.kind() === ip.kind() && ip.match(network, bits)) return undefined;
  }
  const range = ip.range();
  if (range === 'unicast') return undefined;
  if (range === 'loopback' && policy.dev) return undefined;
  return `${address} is a ${describeRange(range)} address; an administrator can allow its network in audit.delivery.allowedNetworks`;
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

function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  const bare = hostname.replace(/^\[|\]$/g, '');
  return ipaddr.isValid(bare) && ipaddr.process(bare).range() === 'loopback';
}

/** Checks a sink URL's form (not yet its addresses); returns the normalised URL. */
export function checkSinkUrl(raw: string, policy: SinkPolicy): URL {
  if (raw.length > MAX_SINK_URL_LENGTH)
    throw new SinkRefused(`is longer than ${MAX_SINK_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SinkRefused('is not a URL; give an absolute https:// URL');
  }
  if (url.username || url.password) {
    throw new SinkRefused(
      'must not carry credentials; the receiver verifies Palisade’s bearer token instead',
    );
  }
  if (url.hash) throw new SinkRefused('must not have a #fragment');
  if (url.protocol === 'http:') {
    if (!policy.dev || !isLoopbackHost(url.hostname)) {
      throw new SinkRefused(
        'must use https:// (plain http is allowed only to a loopback sink on a server in development mode)',
      );
    }
  } else if (url.protocol !== 'https:') {
    throw new SinkRefused('must use https://');
  }
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal)) {
    const refusal = refusalOf(literal, policy);
    if (refusal) throw new SinkRefused(`is refused: ${refusal}`);
  }
  return url;
}

/** Resolves the sink's host and checks every address it has (the error names the first refused). */
export async function checkSinkAddresses(url: URL, policy: SinkPolicy): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return; // checked with the URL
  const addresses = await new Promise<LookupAddress[]>((resolve, reject) =>
    dnsLookup(host, { all: true }, (error, found) => (error ? reject(error) : resolve(found))),
  ).catch(() => {
    throw new SinkRefused(`is refused: ${host} does not resolve`);
  });
  for (const { address } of addresses) {
    const refusal = refusalOf(address, policy);
    if (refusal) throw new SinkRefused(`is refused: ${host} resolves to ${refusal}`);
  }
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
export function guardedLookup(policy: SinkPolicy) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      for (const { address } of addresses) {
        const refusal = refusalOf(address, policy);
        if (refusal) {
          const refused = new Error(`sink address refused: ${refusal}`) as NodeJS.ErrnoException;
          refused.code = 'ESINKREFUSED';
          return callback(refused, '');
        }
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}
