// The hash chain over the audit log: hash = sha256(prev_hash ‖ JCS(event)), with prev_hash as its
// 32 raw bytes (64 zeros' worth for the first event) and JCS the RFC 8785 canonical JSON of the
// CloudEvent. Verification walks events in sequence order and names the first one that breaks.
import { createHash, hash as digest } from 'node:crypto';
import { canonicalJson } from '../lib/canonical-json.js';

export { canonicalJson };

export const GENESIS_HASH = '0'.repeat(64);

/** sha256(prev_hash ‖ text) for text that already is the canonical form. */
export function hashCanonical(prevHash: string, canonical: string): string {
  const bytes = Buffer.allocUnsafe(32 + Buffer.byteLength(canonical));
  bytes.write(prevHash, 0, 'hex');
  bytes.write(canonical, 32, 'utf8');
  return digest('sha256', bytes, 'hex');
}

export function chainHash(prevHash: string, event: unknown): string {
  const canonical = canonicalJson(event);
  return createHash('sha256').update(Buffer.from(prevHash, 'hex')).update(canonical, 'utf8').digest('hex');
}

export interface ChainRow {
  seq: number;
  prev_hash: string;
  hash: string;
  /** The CloudEvent as stored (JSON text). */
  event: string;
}

export interface ChainVerification {
  ok: boolean;
  checked: number;
  lastSeq: number;
  lastHash: string;
  /** The first sequence number that does not verify, and why. */
  firstBad?: { seq: number; reason: string };
}

/**
 * Indices of the rows whose stored text does not hash, with the row's own prev_hash, to the row's
 * hash: the part of verification that needs no order, so pages can be hashed on another thread.
 */
export function mismatchedRows(rows: readonly ChainRow[]): number[] {
  const bad: number[] = [];
  for (let i = 0; i < rows.length; i += 1) {
    const row = rows[i]!;
    if (hashCanonical(row.prev_hash, row.event) !== row.hash) bad.push(i);
  }
  return bad;
}

/**
 * Verifies rows in order, starting after `from` (the genesis, or an anchor kept when a prefix was
 * pruned). Catches edited events, deleted, inserted and reordered rows. `mismatched`, when given,
 * is what mismatchedRows said of these rows (computed elsewhere): the other rows' stored text is
 * then known to hash to their hash, and only the links between rows are checked here.
 */
export function verifyChain(
  rows: Iterable<ChainRow>,
  from = { seq: 0, hash: GENESIS_HASH },
  mismatched?: ReadonlySet<number>,
): ChainVerification {
  let expectedSeq = from.seq + 1;
  let prev = from.hash;
  let checked = 0;
  let index = -1;
  const fail = (row: ChainRow, reason: string): ChainVerification => ({
    ok: false,
    checked,
    lastSeq: expectedSeq - 1,
    lastHash: prev,
    firstBad: { seq: Math.min(row.seq, expectedSeq), reason },
  });
  for (const row of rows) {
    index += 1;
    if (row.seq !== expectedSeq)
      return fail(
        row,
        row.seq > expectedSeq ? `event ${expectedSeq} is missing` : `event ${row.seq} is out of order`,
      );
    if (row.prev_hash !== prev) return fail(row, 'its prev_hash is not the hash of the event before it');
    // Events are stored in their canonical form: hashing the text as stored is the whole check.
    // Rows written before that (or an export's re-serialised events) take the long way.
    if (mismatched ? !mismatched.has(index) : hashCanonical(prev, row.event) === row.hash) {
      prev = row.hash;
      expectedSeq += 1;
      checked += 1;
      continue;
    }
    let event: unknown;
    try {
      event = JSON.parse(row.event);
    } catch {
      return fail(row, 'its stored event is not JSON');
    }
    if (chainHash(prev, event) !== row.hash) return fail(row, 'its content does not match its hash');
    prev = row.hash;
    expectedSeq += 1;
    checked += 1;
  }
  return { ok: true, checked, lastSeq: expectedSeq - 1, lastHash: prev };
}
