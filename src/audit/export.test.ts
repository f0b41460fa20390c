// Reading an export's lines as bytes: which lines take the fast path (the stored event hashed as
// it stands) must be exactly those whose end matches the spliced attributes' grammar; anything
// else is parsed, or refused, as before.
import { describe, expect, it } from 'vitest';
import { hashCanonical } from './chain.js';
import { exportedLine, readExport } from './export.js';

/** The grammar of a spliced line's end, after `"auditseq":`, as a regular expression (read as latin1). */
const TAIL = /^(\d{1,15}),"auditprevhash":"([0-9a-f]{64})","audithash":"([0-9a-f]{64})"\}\s*$/;

function grammarAccepts(line: Buffer): boolean {
  const key = line.lastIndexOf('"auditseq":');
  return (
    line[0] === 0x7b && key > 1 && line[key - 1] === 0x2c && TAIL.test(line.toString('latin1', key + 11))
  );
}

/** Whether readExport hashed the line as bytes (a parsed line is left to the chain: "mismatched"). */
function readAsBytes(line: Buffer): boolean {
  try {
    const { rows, mismatched } = readExport(line);
    expect(rows).toHaveLength(1);
    return !mismatched?.has(0);
  } catch {
    return false;
  }
}

const event = '{"id":"0190a1b2-0000-7000-8000-000000000001","subject":"acme/app:latest","type":"t"}';
const prev = 'ab'.repeat(32);
const hash = hashCanonical(prev, event);
const line = exportedLine({ seq: 42, prev_hash: prev, hash, event });

describe('readExport, line by line as bytes', () => {
  const variants: [string, Buffer, boolean][] = [
    ['as exported', Buffer.from(line), true],
    ['trailing spaces, tab and CR', Buffer.from(`${line}  \t\r`), true],
    ['trailing vertical tab and form feed', Buffer.from(`${line}\v\f`), true],
    [
      'trailing no-break space (0xA0, white space in latin1)',
      Buffer.concat([Buffer.from(line), Buffer.from([0xa0])]),
      true,
    ],
    ['trailing NEL (0x85, not white space)', Buffer.concat([Buffer.from(line), Buffer.from([0x85])]), false],
    ['a character after the closing brace', Buffer.from(`${line}x`), false],
    ['an upper-case hash', Buffer.from(line.replace(hash, hash.toUpperCase())), false],
    [
      'a 15-digit sequence number',
      Buffer.from(line.replace('"auditseq":42', '"auditseq":123456789012345')),
      true,
    ],
    [
      'a 16-digit sequence number',
      Buffer.from(line.replace('"auditseq":42', '"auditseq":1234567890123456')),
      false,
    ],
    ['a space after "auditseq":', Buffer.from(line.replace('"auditseq":42', '"auditseq": 42')), false],
    ['a 63-digit previous hash', Buffer.from(line.replace(prev, prev.slice(1))), false],
    ['no closing brace', Buffer.from(line.slice(0, -1)), false],
    ['no closing quote', Buffer.from(`${line.slice(0, -2)}}`), false],
    [
      'attributes in another order',
      Buffer.from(line.replace(',"auditprevhash"', ',"x":1,"auditprevhash"')),
      false,
    ],
  ];

  it.each(variants)('%s: read as bytes exactly when the grammar matches', (_name, bytes, fast) => {
    expect(grammarAccepts(bytes)).toBe(fast);
    expect(readAsBytes(bytes)).toBe(fast);
  });

  it('takes the sequence number and hashes from the line, and checks the hash over the bytes', () => {
    const { rows, mismatched } = readExport(Buffer.from(`${line}\n`));
    expect(mismatched).toEqual(new Set());
    expect(rows[0]).toMatchObject({ seq: 42, prev_hash: prev, hash, event });
    const long = readExport(Buffer.from(line.replace('"auditseq":42', '"auditseq":123456789012345')));
    expect(long.rows[0]!.seq).toBe(123456789012345);
    // An edited event keeps the fast path but fails its hash.
    const edited = readExport(Buffer.from(line.replace('acme/app', 'acme/evil')));
    expect(edited.mismatched).toEqual(new Set([0]));
  });
});
