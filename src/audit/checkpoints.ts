// Signed checkpoints: every N events or T seconds the chain head (sequence number and hash) is
// signed with the issuer's key as a JWT and kept. Anyone holding Palisade's JWKS can then check
// that an exported or online chain really is the one the server vouched for at that point, which
// also catches a truncated tail whose head was rewound.
import { SignJWT, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { SIGNING_ALGORITHM, type SigningKeys } from '../identity/signing-keys.js';
import type { AuditStore } from './store.js';

export const CHECKPOINT_TYPE = 'palisade-audit-checkpoint+jwt';

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
    const { kid, key } = await this.keys.signingKey(now);
    const jws = await new SignJWT({ seq: head.seq, hash: head.hash })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid, typ: CHECKPOINT_TYPE })
      .setIssuer(this.issuer())
      .setSubject('audit-checkpoint')
      .setIssuedAt(Math.floor(now / 1000))
      .sign(key);
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
): Promise<{ seq: number; hash: string }> {
  const { payload } = await jwtVerify(jws, keys, {
    issuer,
    subject: 'audit-checkpoint',
    algorithms: [SIGNING_ALGORITHM],
    typ: CHECKPOINT_TYPE,
  });
  if (typeof payload.seq !== 'number' || typeof payload.hash !== 'string')
    throw new Error('checkpoint without seq and hash');
  return { seq: payload.seq, hash: payload.hash };
}
