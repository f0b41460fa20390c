// Signing keys of workload issuers (GitHub Actions, GitLab, Kubernetes clusters, clouds). Keys are
// looked up only for issuers a trust policy names — the caller has checked that before asking —
// through the issuer's discovery document and its jwks_uri, fetched with time-outs, size limits
// and the outbound address policy, and cached for as long as the JWKS response says (within
// bounds). A token signed with a key the cache does not hold triggers at most one refetch per
// issuer per minute, which follows key rotation without letting made-up kids hammer the issuer.
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { getJson, type AddressPolicy } from '../../lib/outbound.js';
import { issuerUrlProblem } from './policy.js';

export interface IssuerKeySettings {
  policy: AddressPolicy;
  timeoutMs: number;
  /** Cache lifetime bounds for a JWKS (its Cache-Control max-age is clamped to them). */
  minCacheSeconds: number;
  maxCacheSeconds: number;
  defaultCacheSeconds: number;
  /** Keys past their cache lifetime are still used this long while the issuer cannot be reached. */
  staleSeconds: number;
  /** At most one refetch for an unknown kid per issuer per this many seconds. */
  unknownKidRefetchSeconds: number;
}

export const DEFAULT_ISSUER_KEY_SETTINGS: Omit<IssuerKeySettings, 'policy'> = {
  timeoutMs: 5_000,
  minCacheSeconds: 60,
  maxCacheSeconds: 86_400,
  defaultCacheSeconds: 600,
  staleSeconds: 3_600,
  unknownKidRefetchSeconds: 60,
};

const MAX_DISCOVERY_BYTES = 64 * 1024;
const MAX_JWKS_BYTES = 256 * 1024;
const MAX_KEYS = 100;

/** The issuer could not be reached or answered nonsense; the message is safe to show. */
export class IssuerUnavailable extends Error {}

interface Entry {
  keys: JWTVerifyGetKey;
  kids: Set<string>;
  fetchedAt: number;
  expiresAt: number;
}

export class IssuerKeys {
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Entry>>();
  readonly #lastMissRefetch = new Map<string, number>();
  /** Fetches made (for tests and metrics): issuer → count. */
  readonly fetches = new Map<string, number>();

  constructor(
    private readonly settings: IssuerKeySettings,
    private readonly clock: () => number = Date.now,
  ) {}

  /** A key getter for jose's jwtVerify, for tokens of `issuer`. */
  async getter(issuer: string): Promise<JWTVerifyGetKey> {
    let entry = await this.#current(issuer);
    return async (header, token) => {
      try {
        return await entry.keys(header, token);
      } catch (error) {
        if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
        const now = this.clock();
        const last = this.#lastMissRefetch.get(issuer) ?? 0;
        if (now - last < this.settings.unknownKidRefetchSeconds * 1000) throw error;
        this.#lastMissRefetch.set(issuer, now);
        entry = await this.#refresh(issuer);
        return entry.keys(header, token);
      }
    };
  }

  async #current(issuer: string): Promise<Entry> {
    const entry = this.#entries.get(issuer);
    const now = this.clock();
    if (entry && now < entry.expiresAt) return entry;
    try {
      return await this.#refresh(issuer);
    } catch (error) {
      // A known issuer that is briefly down keeps working on the keys it last published.
      if (entry && now < entry.expiresAt + this.settings.staleSeconds * 1000) return entry;
      throw error;
    }
  }

  #refresh(issuer: string): Promise<Entry> {
    let pending = this.#inflight.get(issuer);
    if (!pending) {
      pending = this.#fetch(issuer).finally(() => this.#inflight.delete(issuer));
      this.#inflight.set(issuer, pending);
    }
    return pending;
  }

  async #fetch(issuer: string): Promise<Entry> {
    this.fetches.set(issuer, (this.fetches.get(issuer) ?? 0) + 1);
    const dev = this.settings.policy.dev;
    const options = { policy: this.settings.policy, timeoutMs: this.settings.timeoutMs };
    const discoveryUrl = new URL(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
    let discovery: unknown;
    try {
      discovery = (await getJson(discoveryUrl, { ...options, maxBytes: MAX_DISCOVERY_BYTES })).body;
    } catch (error) {
      throw new IssuerUnavailable(`issuer ${issuer} discovery failed: ${(error as Error).message}`);
    }
    const document = (discovery ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    if (document.issuer !== issuer) {
      throw new IssuerUnavailable(
        `issuer ${issuer} discovery names another issuer (${String(document.issuer).slice(0, 100)})`,
      );
    }
    if (
      typeof document.jwks_uri !== 'string' ||
      issuerUrlProblem(document.jwks_uri.replace(/\?.*$/, ''), dev)
    ) {
      throw new IssuerUnavailable(`issuer ${issuer} discovery has no usable https jwks_uri`);
    }
    let fetched;
    try {
      fetched = await getJson(new URL(document.jwks_uri), { ...options, maxBytes: MAX_JWKS_BYTES });
    } catch (error) {
      throw new IssuerUnavailable(`issuer ${issuer} JWKS fetch failed: ${(error as Error).message}`);
    }
    const jwks = fetched.body as JSONWebKeySet;
    if (!jwks || !Array.isArray(jwks.keys) || jwks.keys.length > MAX_KEYS) {
      throw new IssuerUnavailable(`issuer ${issuer} JWKS is not a key set of at most ${MAX_KEYS} keys`);
    }
    // Only public keys: a set holding private or symmetric material is refused outright.
    for (const key of jwks.keys) {
      if ('d' in key || key.kty === 'oct')
        throw new IssuerUnavailable(`issuer ${issuer} JWKS holds non-public keys`);
    }
    const now = this.clock();
    const seconds = Math.min(
      this.settings.maxCacheSeconds,
      Math.max(this.settings.minCacheSeconds, fetched.maxAgeSeconds ?? this.settings.defaultCacheSeconds),
    );
    const entry: Entry = {
      keys: createLocalJWKSet(jwks),
      kids: new Set(jwks.keys.map((k) => k.kid).filter((k): k is string => typeof k === 'string')),
      fetchedAt: now,
      expiresAt: now + seconds * 1000,
    };
    this.#entries.set(issuer, entry);
    if (this.#entries.size > 1000) this.#entries.delete(this.#entries.keys().next().value!);
    return entry;
  }
}
