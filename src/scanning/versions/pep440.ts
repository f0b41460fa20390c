// Python package versions as PEP 440 defines them, so PyPI advisories are ordered the way pip orders
// releases. Accepts everything PEP 440's normalisation accepts (as pip's `packaging` does):
// case-insensitive, optional leading "v", surrounding ASCII whitespace, "-", "_" or "." between parts,
// the spellings alpha/beta/c/pre/preview for a/b/rc, rev/r for post, "1.0-1" for "1.0.post1", and
// omitted numbers (implicitly 0). Anything else, including non-PEP 440 "legacy" versions, is invalid.
import {
  compareCodes,
  compareDigits,
  defineScheme,
  isDigitCode,
  isLowerCode,
  stripLeadingZeros,
} from './parse-support.js';

interface Pep440 {
  /** Numbers are digit strings without leading zeros ("" is zero), so they can be of any size. */
  readonly epoch: string;
  /** Release numbers with trailing zeros dropped: "1.0" and "1" are the same release. */
  readonly release: readonly string[];
  /** Pre-release phase (0 a, 1 b, 2 rc) and number. */
  readonly pre: { readonly phase: number; readonly n: string } | undefined;
  readonly post: string | undefined;
  readonly dev: string | undefined;
  readonly local: readonly LocalSegment[] | undefined;
}

interface LocalSegment {
  readonly numeric: boolean;
  readonly text: string;
}

/** Pre-release spellings, longest first so "alpha" is not read as "a" followed by junk. */
const PRE_LABELS: readonly (readonly [string, number])[] = [
  ['preview', 2],
  ['alpha', 0],
  ['beta', 1],
  ['pre', 2],
  ['rc', 2],
  ['a', 0],
  ['b', 1],
  ['c', 2],
];
const PRE_LABEL_WORDS: readonly string[] = PRE_LABELS.map(([label]) => label);
const POST_LABELS: readonly string[] = ['post', 'rev', 'r'];

function isSeparator(code: number): boolean {
  return code === 45 || code === 95 || code === 46; // - _ .
}

function isAsciiSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

/** A cursor over the lower-cased, trimmed version; each reader advances it only when it matches. */
class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  code(offset = 0): number {
    return this.text.charCodeAt(this.pos + offset);
  }

  done(): boolean {
    return this.pos >= this.text.length;
  }

  digits(): string | undefined {
    const start = this.pos;
    while (isDigitCode(this.code())) this.pos++;
    return this.pos > start ? stripLeadingZeros(this.text.slice(start, this.pos)) : undefined;
  }

  word(words: readonly string[]): string | undefined {
    const found = words.find((w) => this.text.startsWith(w, this.pos));
    if (found !== undefined) this.pos += found.length;
    return found;
  }

  separator(): void {
    if (isSeparator(this.code())) this.pos++;
  }
}

function readRelease(c: Cursor): string[] | undefined {
  const first = c.digits();
  if (first === undefined) return undefined;
  const release = [first];
  while (c.code() === 46 && isDigitCode(c.code(1))) {
    c.pos++;
    release.push(c.digits()!);
  }
  while (release.length > 1 && release[release.length - 1] === '') release.pop();
  return release;
}

/** `[sep] label [sep] [digits]`, the shape shared by pre, post and dev parts; undefined if absent. */
function readLabelled(c: Cursor, labels: readonly string[]): { label: string; n: string } | undefined {
  const start = c.pos;
  c.separator();
  const label = c.word(labels);
  if (label === undefined) {
    c.pos = start;
    return undefined;
  }
  // A separator after the label belongs to the number; a dangling one is allowed and ignored.
  c.separator();
  return { label, n: c.digits() ?? '' };
}

function readPre(c: Cursor): Pep440['pre'] {
  const part = readLabelled(c, PRE_LABEL_WORDS);
  if (part === undefined) return undefined;
  const phase = PRE_LABELS.find(([label]) => label === part.label)![1];
  return { phase, n: part.n };
}

function readPost(c: Cursor): string | undefined {
  // "1.0-1" is the implicit spelling of "1.0.post1".
  if (c.code() === 45 && isDigitCode(c.code(1))) {
    c.pos++;
    return c.digits();
  }
  return readLabelled(c, POST_LABELS)?.n;
}

/** The "+local" part: undefined when absent, null when malformed. */
function readLocal(c: Cursor): LocalSegment[] | undefined | null {
  if (c.code() !== 43 /* + */) return undefined;
  const segments: LocalSegment[] = [];
  do {
    c.pos++; // the "+" or the separator that kept the loop going
    const start = c.pos;
    while (isDigitCode(c.code()) || isLowerCode(c.code())) c.pos++;
    if (c.pos === start) return null;
    const text = c.text.slice(start, c.pos);
    const numeric = isAllDigits(text);
    segments.push({ numeric, text: numeric ? stripLeadingZeros(text) : text });
  } while (isSeparator(c.code()));
  return segments;
}

function isAllDigits(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (!isDigitCode(text.charCodeAt(i))) return false;
  return true;
}

function readEpoch(c: Cursor): string {
  const start = c.pos;
  const n = c.digits();
  if (n !== undefined && c.code() === 33 /* ! */) {
    c.pos++;
    return n;
  }
  c.pos = start;
  return '';
}

/** Lower-cases ASCII letters only: other characters are invalid anyway and must stay so. */
function lowerAscii(text: string): string {
  return text.replace(/[A-Z]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) + 32));
}

function trimAscii(version: string): string {
  let start = 0;
  let end = version.length;
  while (start < end && isAsciiSpace(version.charCodeAt(start))) start++;
  while (end > start && isAsciiSpace(version.charCodeAt(end - 1))) end--;
  return version.slice(start, end);
}

function parsePep440(version: string): Pep440 | null {
  const c = new Cursor(lowerAscii(trimAscii(version)));
  if (c.code() === 118 /* v */) c.pos++;
  const epoch = readEpoch(c);
  const release = readRelease(c);
  if (release === undefined) return null;
  const pre = readPre(c);
  const post = readPost(c);
  const dev = readLabelled(c, ['dev'])?.n;
  const local = readLocal(c);
  if (local === null || !c.done()) return null;
  return { epoch, release, pre, post, dev, local };
}

/** Positions of "no such part" relative to any present part, as PEP 440's ordering places them. */
const BEFORE = -1;
const AFTER = 1;

function compareOptional(a: string | undefined, b: string | undefined, absent: number): number {
  if (a === undefined || b === undefined) {
    if (a === b) return 0;
    return a === undefined ? absent : -absent;
  }
  return compareDigits(a, b);
}

function compareRelease(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = compareDigits(a[i]!, b[i]!);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** A dev release of a final version ("1.0.dev1") sorts before all of its pre-releases. */
function preKey(v: Pep440): number {
  if (v.pre !== undefined) return 0;
  return v.post === undefined && v.dev !== undefined ? -1 : 1;
}

function comparePre(a: Pep440, b: Pep440): number {
  const ka = preKey(a);
  const kb = preKey(b);
  if (ka !== 0 || kb !== 0) return ka - kb;
  return a.pre!.phase - b.pre!.phase || compareDigits(a.pre!.n, b.pre!.n);
}

function compareLocal(
  a: readonly LocalSegment[] | undefined,
  b: readonly LocalSegment[] | undefined,
): number {
  if (a === undefined || b === undefined) return (a === undefined ? 0 : 1) - (b === undefined ? 0 : 1);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    // Numeric segments sort after alphanumeric ones.
    const d =
      x.numeric !== y.numeric
        ? x.numeric
          ? 1
          : -1
        : x.numeric
          ? compareDigits(x.text, y.text)
          : compareCodes(x.text, y.text);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function compareParsed(a: Pep440, b: Pep440): number {
  return (
    compareDigits(a.epoch, b.epoch) ||
    compareRelease(a.release, b.release) ||
    comparePre(a, b) ||
    compareOptional(a.post, b.post, BEFORE) ||
    compareOptional(a.dev, b.dev, AFTER) ||
    compareLocal(a.local, b.local)
  );
}

export const pep440Versions = defineScheme('pep440', parsePep440, compareParsed);
