// Signed checkpoints: every N events or T seconds the chain head (sequence number and hash) is
// signed with the issuer's key as a JWT and kept. Anyone holding Palisade's JWKS can then check
// that an exported or online chain really is the one the server vouched for at that point, which
// also catches a truncated tail whose head was rewound.
import { SignJWT, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { SIGNING_ALGORITHM, type SigningKeys } from '../identity/signing-keys.js';
import type { AuditStore } from './store.js';

export const CHECKPOINT_TYPE = 'palisade-audit-checkpoint+jwt';
/** An anchor vouches for where the retained chain starts after a prefix was pruned. */
export const ANCHOR_TYPE = 'palisade-audit-anchor+jwt';

/** Signs (seq, hash) with the issuer's current key as a JWT of the given kind. */
export async function signChainPoint(
  keys: SigningKeys,
  issuer: string,
  point: { seq: number; hash: string },
  kind: 'checkpoint' | 'anchor',
  now = Date.now(),
): Promise<string> {
  const { kid, key } = await keys.signingKey(now);
  return new SignJWT({ seq: point.seq, hash: point.hash })
    .setProtectedHeader({
      alg: SIGNING_ALGORITHM,
      kid,
      typ: kind === 'anchor' ? ANCHOR_TYPE : CHECKPOINT_TYPE,
    })
    .setIssuer(issuer)
    .setSubject(`audit-${kind}`)
    .setIssuedAt(Math.floor(now / 1000))
    .sign(key);
}

export interface CheckpointPolicy {
  everyEvents: number;
  everyMs: number;
}

export class Checkpointer {
  constructor(
    private readonly store: AuditStore,
    private readonly keys: SigningKeys,
    private readonly issuer: () => string,
    readonly policy: CheckpointPolicy,
  ) {}

  /** Writes a checkpoint when enough events or time have passed since the last; returns its seq. */
  async maybeCheckpoint(now = Date.now()): Promise<number | undefined> {
    const head = await this.store.head(this.store.db);
    if (head.seq === 0) return undefined;
    const last = await this.store.latestCheckpoint(this.store.db);
    if (last && last.seq === head.seq) return undefined;
    const due =
      !last || head.seq - last.seq >= this.policy.everyEvents || now - last.created_at >= this.policy.everyMs;
    if (!due) return undefined;
    const jws = await signChainPoint(this.keys, this.issuer(), head, 'checkpoint', now);
    await this.store.insertCheckpoint(this.store.db, {
      seq: head.seq,
      hash: head.hash,
      created_at: now,
      jws,
    });
    return head.seq;
  }
}

/** Verifies a checkpoint JWT against a key set; returns the sequence number and hash it vouches for. */
export async function verifyCheckpoint(
  jws: string,
  keys: JWTVerifyGetKey,
  issuer: string,
  kind: 'checkpoint' | 'anchor' = 'checkpoint',
): Promise<{ seq: number; hash: string }> {
  const { payload } = await jwtVerify(jws, keys, {
    issuer,
    subject: `audit-${kind}`,
    algorithms: [SIGNING_ALGORITHM],
    typ: kind === 'anchor' ? ANCHOR_TYPE : CHECKPOINT_TYPE,
  });
  if (typeof payload.seq !== 'number' || typeof payload.hash !== 'string')
    throw new Error('checkpoint without seq and hash');
  return { seq: payload.seq, hash: payload.hash };
}
