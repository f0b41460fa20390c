// The hash chain over the audit log: hash = sha256(prev_hash ‖ JCS(event)), with prev_hash as its
// 32 raw bytes (64 zeros' worth for the first event) and JCS the RFC 8785 canonical JSON of the
// CloudEvent. Verification walks events in sequence order and names the first one that breaks.
import { createHash, hash as digest } from 'node:crypto';
import canonicalize from 'canonicalize';

export const GENESIS_HASH = '0'.repeat(64);

/** RFC 8785 (JCS) canonical JSON, from the canonicalize package. */
export function canonicalJson(value: unknown): string {
  const canonical = canonicalize(value);
  if (canonical === undefined) throw new Error('event cannot be canonicalised');
  return canonical;
}

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
 * Verifies rows in order, starting after `from` (the genesis, or an anchor kept when a prefix was
 * pruned). Catches edited events, deleted, inserted and reordered rows.
 */
export function verifyChain(
  rows: Iterable<ChainRow>,
  from = { seq: 0, hash: GENESIS_HASH },
): ChainVerification {
  let expectedSeq = from.seq + 1;
  let prev = from.hash;
  let checked = 0;
  for (const row of rows) {
    const fail = (reason: string): ChainVerification => ({
      ok: false,
      checked,
      lastSeq: expectedSeq - 1,
      lastHash: prev,
      firstBad: { seq: Math.min(row.seq, expectedSeq), reason },
    });
    if (row.seq !== expectedSeq)
      return fail(
        row.seq > expectedSeq ? `event ${expectedSeq} is missing` : `event ${row.seq} is out of order`,
      );
    if (row.prev_hash !== prev) return fail('its prev_hash is not the hash of the event before it');
    // Events are stored in their canonical form: hashing the text as stored is the whole check.
    // Rows written before that (or an export's re-serialised events) take the long way.
    if (hashCanonical(prev, row.event) === row.hash) {
      prev = row.hash;
      expectedSeq += 1;
      checked += 1;
      continue;
    }
    let event: unknown;
    try {
      event = JSON.parse(row.event);
    } catch {
      return fail('its stored event is not JSON');
    }
    if (chainHash(prev, event) !== row.hash) return fail('its content does not match its hash');
    prev = row.hash;
    expectedSeq += 1;
    checked += 1;
  }
  return { ok: true, checked, lastSeq: expectedSeq - 1, lastHash: prev };
}
