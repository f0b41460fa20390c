// The bearer token on every delivery: a JWT from Palisade's issuer with aud = the sink URL and
// sub = webhook:<org>, so a receiver checks it against the issuer's JWKS with any JWT library and
// no shared secret exists to leak or rotate. Tokens live five minutes and are reused per sink for
// four, which keeps signing off the per-event path.
import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { SIGNING_ALGORITHM, type SigningKeys } from '../identity/signing-keys.js';

export const WEBHOOK_TOKEN_TYPE = 'palisade-webhook+jwt';
const TTL_SECONDS = 300;
const REUSE_SECONDS = 240;

/** The subject deliveries of an organization's (or the whole log's) subscriptions carry. */
export function webhookSubject(org: string | null): string {
  return `webhook:${org ?? '*'}`;
}

export class WebhookTokens {
  readonly #cache = new Map<string, { token: string; renewAt: number }>();

  constructor(
    private readonly keys: SigningKeys,
    private readonly issuer: () => string,
  ) {}

  async tokenFor(sinkUrl: string, org: string | null, now = Date.now()): Promise<string> {
    const key = `${org ?? ''}\n${sinkUrl}`;
    const cached = this.#cache.get(key);
    if (cached && cached.renewAt > now) return cached.token;
    const { kid, key: signingKey } = await this.keys.signingKey(now);
    const iat = Math.floor(now / 1000);
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid, typ: WEBHOOK_TOKEN_TYPE })
      .setIssuer(this.issuer())
      .setSubject(webhookSubject(org))
      .setAudience(sinkUrl)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + TTL_SECONDS)
      .setJti(randomUUID())
      .sign(signingKey);
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(key, { token, renewAt: now + REUSE_SECONDS * 1000 });
    return token;
  }
}

/**
 * What a receiver does (and what the README shows): verify the bearer token against Palisade's
 * JWKS, for its own URL as audience and the organization it expects. Kept here so the tests use
 * exactly the documented steps.
 */
export async function verifyWebhookToken(
  authorization: string | undefined,
  options: { jwks: JWTVerifyGetKey; issuer: string; sinkUrl: string; org: string | null },
): Promise<JWTPayload> {
  const token = /^Bearer ([A-Za-z0-9._-]+)$/.exec(authorization ?? '')?.[1];
  if (!token) throw new Error('no bearer token');
  const { payload } = await jwtVerify(token, options.jwks, {
    issuer: options.issuer,
    audience: options.sinkUrl,
    subject: webhookSubject(options.org),
    typ: WEBHOOK_TOKEN_TYPE,
    algorithms: [SIGNING_ALGORITHM],
    maxTokenAge: '10m',
  });
  return payload;
}
