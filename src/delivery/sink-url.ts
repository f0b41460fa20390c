// Which sink URLs Palisade will deliver to. A subscription makes the server send requests to an
// address a customer chose, which is exactly how server-side request forgery happens, so: https
// only (plain http to loopback in development mode), no credentials or fragments in the URL, and
// no address outside the public unicast space — private, loopback, link-local (cloud metadata),
// CGNAT, multicast, reserved and IPv6 tunnelling ranges — unless an administrator allow-listed its
// network. The address check runs when the subscription is made (a clear error) and again on
// every connection (a name that later resolves elsewhere is refused: DNS rebinding).
import { isIP } from 'node:net';
import { hostRefusal, isLoopbackHost, refusalOf, type AddressPolicy } from '../lib/outbound.js';

export type SinkPolicy = AddressPolicy;

export const MAX_SINK_URL_LENGTH = 2048;

export class SinkRefused extends Error {}

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
  const refusal = await hostRefusal(url.hostname, policy);
  if (refusal) throw new SinkRefused(`is refused: ${refusal}`);
}
