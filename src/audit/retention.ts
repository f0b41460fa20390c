// Retention: events older than the retention period go, always as a whole prefix of the chain,
// and a signed anchor (seq, hash of the last pruned event) records where the remaining chain
// starts, so it still verifies. A legal hold stops pruning altogether. The pruning itself is an
// event, written in the same transaction.
import type { SigningKeys } from '../identity/signing-keys.js';
import { SYSTEM_ACTOR, type AuditLog } from './audit-log.js';
import { signChainPoint } from './checkpoints.js';

export interface RetentionSettings {
  retentionMs: number;
  legalHold: boolean;
}

export interface PruneResult {
  held: boolean;
  pruned: number;
  throughSeq?: number;
  errors: string[];
}

export class Retention {
  constructor(
    private readonly audit: AuditLog,
    private readonly keys: SigningKeys,
    private readonly issuer: () => string,
    readonly settings: RetentionSettings,
    /** The last sequence number every subscriber has received: later events are kept for them. */
    private readonly deliveredThrough: () => Promise<number | undefined> = () => Promise.resolve(undefined),
  ) {}

  async prune(now = Date.now()): Promise<PruneResult> {
    if (this.settings.legalHold) return { held: true, pruned: 0, errors: [] };
    const store = this.audit.store;
    try {
      const old = await store.lastSeqBefore(store.db, now - this.settings.retentionMs);
      if (old === undefined) return { held: false, pruned: 0, errors: [] };
      const delivered = await this.deliveredThrough();
      const through = delivered === undefined ? old : Math.min(old, delivered);
      const last = await store.eventAt(store.db, through);
      if (!last) return { held: false, pruned: 0, errors: [] };
      const anchor = { seq: through, hash: last.hash, created_at: now };
      const jws = await signChainPoint(this.keys, this.issuer(), anchor, 'anchor', now);
      const pruned = await store.db.transaction().execute(async (trx) => {
        const count = await store.prune(trx, { ...anchor, jws });
        await this.audit.record(trx, {
          type: 'dev.palisade.audit.log.pruned.v1',
          actor: SYSTEM_ACTOR,
          body: {
            through_seq: through,
            events: count,
            retention_days: this.settings.retentionMs / 86_400_000,
            anchor_hash: last.hash,
          },
        });
        return count;
      });
      await this.audit.settle();
      return { held: false, pruned, throughSeq: through, errors: [] };
    } catch (error) {
      return { held: false, pruned: 0, errors: [error instanceof Error ? error.message : String(error)] };
    }
  }
}
