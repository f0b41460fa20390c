// The exported form of the log: each event as a CloudEvent with three extension attributes that
// place it in the chain (auditseq, auditprevhash, audithash). Verification strips them and
// recomputes the hash over the event as recorded, so an export is checkable offline.
import { hash as digest } from 'node:crypto';
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

const SEQ_KEY = Buffer.from('"auditseq":');
const PREV_KEY = Buffer.from(',"auditprevhash":"');
const HASH_KEY = Buffer.from('","audithash":"');
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
/** 1 for the bytes of lowercase hex digits. */
const LOWER_HEX = new Uint8Array(256);
for (const c of '0123456789abcdef') LOWER_HEX[c.charCodeAt(0)] = 1;

/**
 * The spliced attributes after `"auditseq":` up to the end of the line, read in place:
 * `<1–15 digits>,"auditprevhash":"<64 hex>","audithash":"<64 hex>"}` and trailing white space
 * (what /\s/ matches in latin1). Undefined when the line ends any other way. A regular expression
 * over a decoded copy of the tail said the same at a higher cost, on every line of an export.
 */
function splicedTail(line: Buffer, from: number): { seq: number; prev: string; hash: string } | undefined {
  let at = from;
  let seq = 0;
  while (at < line.length && at - from < 15 && line[at]! >= 0x30 && line[at]! <= 0x39) {
    seq = seq * 10 + line[at]! - 0x30;
    at += 1;
  }
  if (at === from || !bytesAt(line, at, PREV_KEY)) return undefined;
  at += PREV_KEY.length;
  if (!lowerHexAt(line, at)) return undefined;
  const prev = line.toString('latin1', at, at + 64);
  at += 64;
  if (!bytesAt(line, at, HASH_KEY)) return undefined;
  at += HASH_KEY.length;
  if (!lowerHexAt(line, at)) return undefined;
  const hash = line.toString('latin1', at, at + 64);
  at += 64;
  if (line[at] !== QUOTE || line[at + 1] !== CLOSE_BRACE) return undefined;
  for (at += 2; at < line.length; at += 1) {
    const b = line[at]!;
    if (!(b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0xa0)) return undefined;
  }
  return { seq, prev, hash };
}

function bytesAt(line: Buffer, at: number, expected: Buffer): boolean {
  return (
    at + expected.length <= line.length &&
    line.compare(expected, 0, expected.length, at, at + expected.length) === 0
  );
}

/** 64 lowercase hex digits at `at`. */
function lowerHexAt(line: Buffer, at: number): boolean {
  if (at + 64 > line.length) return false;
  let all = 1;
  for (let i = at; i < at + 64; i += 1) all &= LOWER_HEX[line[i]!]!;
  return all === 1;
}

/** A row read from export bytes: its event text is decoded only when something asks for it. */
class ExportedRow implements ChainRow {
  /** The stored event's bytes without its closing brace. */
  readonly #body: Buffer;

  constructor(
    readonly seq: number,
    readonly prev_hash: string,
    readonly hash: string,
    body: Buffer,
  ) {
    this.#body = body;
  }

  get event(): string {
    return `${this.#body.toString('utf8')}}`;
  }
}

export interface ReadExport {
  rows: ChainRow[];
  /**
   * Indices of rows whose stored text did not hash to their hash here (the chain looks again);
   * without it, the chain hashes every row itself.
   */
  mismatched?: Set<number>;
}

/**
 * Reads an NDJSON export (as bytes) for verification. A line as exportedLine wrote it is checked
 * as bytes: everything before the spliced attributes, plus the closing brace, is the stored
 * event, so its hash is computed over those bytes with no decoding or parsing. Any other line is
 * decoded and parsed (rowFromLine), and left for the chain to hash its canonical form. Throws,
 * naming the line, on one that is not an exported event.
 */
export function readExport(bytes: Buffer): ReadExport {
  const rows: ChainRow[] = [];
  const mismatched = new Set<number>();
  let number = 0;
  for (let start = 0; start < bytes.length;) {
    let end = bytes.indexOf(10, start);
    if (end === -1) end = bytes.length;
    const line = bytes.subarray(start, end);
    start = end + 1;
    number += 1;
    if (line.every((b) => b === 32 || b === 13 || b === 9)) continue;
    const row = splicedRow(line);
    if (row) {
      if (!row.ok) mismatched.add(rows.length);
      rows.push(row.row);
      continue;
    }
    try {
      rows.push(rowFromLine(line.toString('utf8')));
    } catch (error) {
      throw new Error(
        `line ${number} of the export is not an exported event: ${error instanceof Error ? error.message : 'unreadable'}`,
        { cause: error },
      );
    }
    mismatched.add(rows.length - 1);
  }
  return { rows, mismatched };
}

function splicedRow(line: Buffer): { row: ExportedRow; ok: boolean } | undefined {
  if (line[0] !== 0x7b) return undefined;
  const key = line.lastIndexOf(SEQ_KEY);
  if (key < 1) return undefined;
  const tail = splicedTail(line, key + SEQ_KEY.length);
  if (!tail) return undefined;
  // `{"auditseq":…}` is an event with no members of its own; otherwise a comma comes first.
  const bodyEnd = key === 1 ? 1 : line[key - 1] === 0x2c && key > 1 ? key - 1 : -1;
  if (bodyEnd === -1 || (bodyEnd === 1 && key !== 1)) return undefined;
  const body = line.subarray(0, bodyEnd);
  const { seq, prev, hash } = tail;
  // prev_hash ‖ body ‖ "}" laid out in one reused buffer and hashed in one call.
  if (scratch.length < body.length + 33) {
    scratch = Buffer.allocUnsafe(Math.max(body.length + 33, 2 * scratch.length));
  }
  scratch.write(prev, 0, 'hex');
  body.copy(scratch, 32);
  scratch[32 + body.length] = CLOSE_BRACE;
  const actual = digest('sha256', scratch.subarray(0, 33 + body.length), 'hex');
  return { row: new ExportedRow(seq, prev, hash, body), ok: actual === hash };
}

let scratch = Buffer.allocUnsafe(64 * 1024);
