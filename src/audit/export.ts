// The exported form of the log: each event as a CloudEvent with three extension attributes that
// place it in the chain (auditseq, auditprevhash, audithash). Verification strips them and
// recomputes the hash over the event as recorded, so an export is checkable offline.
import type { AuditEventsTable } from '../db/schema.js';
import type { ChainRow } from './chain.js';

/**
 * One exported line without parsing the stored event: it is a JSON object, so the chain
 * attributes are spliced in before its closing brace (same members as toExported, appended last).
 */
export function exportedLine(row: Pick<AuditEventsTable, 'seq' | 'prev_hash' | 'hash' | 'event'>): string {
  const text = row.event.trimEnd();
  if (!text.endsWith('}')) throw new Error(`stored event ${row.seq} is not a JSON object`);
  const sep = text.slice(0, -1).trimEnd().endsWith('{') ? '' : ',';
  return `${text.slice(0, -1)}${sep}"auditseq":${row.seq},"auditprevhash":${JSON.stringify(row.prev_hash)},"audithash":${JSON.stringify(row.hash)}}`;
}

export function toExported(row: AuditEventsTable): Record<string, unknown> {
  return {
    ...(JSON.parse(row.event) as Record<string, unknown>),
    auditseq: row.seq,
    auditprevhash: row.prev_hash,
    audithash: row.hash,
  };
}

/** The chain attributes exactly as exportedLine appends them. */
const SPLICED = /(,?)"auditseq":(\d{1,15}),"auditprevhash":"([0-9a-f]{64})","audithash":"([0-9a-f]{64})"\}$/;

/**
 * One line of an NDJSON export back to a chain row. A line as exportedLine wrote it is undone
 * without parsing: the text before the spliced attributes is the stored event, byte for byte, and
 * its hash is the whole check. Any other line (re-serialised, or from a CloudEvents batch) is
 * parsed, and the chain then hashes its canonical form. Throws on a line that is not an event.
 */
export function rowFromLine(line: string): ChainRow {
  const text = line.trimEnd();
  const match = SPLICED.exec(text);
  if (match && text.startsWith('{')) {
    const body = text.slice(0, match.index);
    // No separator means the event had no members of its own.
    if (match[1] ? body !== '{' : body === '{') {
      return { seq: Number(match[2]), prev_hash: match[3]!, hash: match[4]!, event: `${body}}` };
    }
  }
  return fromExported(JSON.parse(text));
}

/** Back from the exported form to a chain row; throws on a line that is not an exported event. */
export function fromExported(value: unknown): ChainRow {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an exported event');
  const { auditseq, auditprevhash, audithash, ...event } = value as Record<string, unknown>;
  if (typeof auditseq !== 'number' || typeof auditprevhash !== 'string' || typeof audithash !== 'string') {
    throw new Error('exported event without auditseq, auditprevhash and audithash');
  }
  return { seq: auditseq, prev_hash: auditprevhash, hash: audithash, event: JSON.stringify(event) };
}
