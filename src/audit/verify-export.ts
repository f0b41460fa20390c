// Verifying an exported log offline (or a downloaded one online): the hash chain over the events,
// then every signed checkpoint that falls inside the exported range, against the issuer's JWKS.
// The first broken sequence number is named; checkpoints prove the chain is the one the server
// vouched for, so a rewritten chain with recomputed hashes does not pass.
import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { verifyChain, type ChainRow, type ChainVerification } from './chain.js';
import { verifyCheckpoint } from './checkpoints.js';

export interface CheckpointRecord {
  seq: number;
  hash: string;
  jws: string;
}

export interface ExportVerification extends ChainVerification {
  firstSeq: number;
  checkpointsVerified: number;
  /** The newest checkpointed sequence number inside the range (events after it are vouched for by the chain only). */
  coveredUpTo: number;
  warnings: string[];
}

export async function verifyExport(
  rows: ChainRow[],
  checkpoints: CheckpointRecord[],
  jwks: JSONWebKeySet,
  issuer: string,
  anchor?: CheckpointRecord | null,
  /** What readExport found of the rows' own hashes (they are then not hashed again here). */
  mismatched?: ReadonlySet<number>,
): Promise<ExportVerification> {
  const firstSeq = rows[0]?.seq ?? 0;
  const start = rows[0] ? { seq: firstSeq - 1, hash: rows[0].prev_hash } : undefined;
  const chain = verifyChain(rows, start, mismatched);
  const warnings: string[] = [];
  const base = { ...chain, firstSeq, checkpointsVerified: 0, coveredUpTo: 0, warnings };
  if (!chain.ok) return base;
  const keys = createLocalJWKSet(jwks);
  if (firstSeq > 1) {
    // The chain starts after a pruned prefix: its start must be the signed anchor.
    if (!anchor || anchor.seq !== firstSeq - 1) {
      warnings.push(
        `the export starts at ${firstSeq} without a signed anchor for ${firstSeq - 1} (a filtered or partial export)`,
      );
    } else {
      try {
        const vouched = await verifyCheckpoint(anchor.jws, keys, issuer, 'anchor');
        if (vouched.seq !== anchor.seq || vouched.hash !== rows[0]!.prev_hash) {
          return {
            ...base,
            ok: false,
            firstBad: {
              seq: firstSeq,
              reason: 'its prev_hash is not the one the signed retention anchor vouches for',
            },
          };
        }
      } catch (error) {
        return {
          ...base,
          ok: false,
          firstBad: {
            seq: firstSeq,
            reason: `the retention anchor's signature does not verify (${error instanceof Error ? error.message : 'invalid'})`,
          },
        };
      }
    }
  }
  const hashAt = new Map(rows.map((r) => [r.seq, r.hash]));
  if (rows[0]) hashAt.set(firstSeq - 1, rows[0].prev_hash);
  let verified = 0;
  let covered = 0;
  for (const checkpoint of checkpoints) {
    if (!hashAt.has(checkpoint.seq)) continue;
    let vouched: { seq: number; hash: string };
    try {
      vouched = await verifyCheckpoint(checkpoint.jws, keys, issuer);
    } catch (error) {
      const reason = error instanceof Error ? error.message : 'invalid';
      if (/no applicable key|kid/i.test(reason)) {
        warnings.push(`checkpoint at ${checkpoint.seq} is signed by a key no longer in the JWKS; skipped`);
        continue;
      }
      return {
        ...base,
        ok: false,
        firstBad: { seq: checkpoint.seq, reason: `its checkpoint signature does not verify (${reason})` },
      };
    }
    if (vouched.seq !== checkpoint.seq || vouched.hash !== hashAt.get(checkpoint.seq)) {
      return {
        ...base,
        ok: false,
        checkpointsVerified: verified,
        firstBad: {
          seq: checkpoint.seq,
          reason: 'the chain differs from the signed checkpoint at this sequence number',
        },
      };
    }
    verified += 1;
    covered = Math.max(covered, checkpoint.seq);
  }
  if (chain.lastSeq > covered) warnings.push(`events after ${covered} are not covered by a checkpoint yet`);
  return { ...base, checkpointsVerified: verified, coveredUpTo: covered };
}
