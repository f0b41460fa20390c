// Alpine (and Wolfi/Chainguard) package versions, ordered as apk-tools orders them, so advisories for
// apk-based images are matched the way `apk version -t` would decide.
//
// Grammar (apk-tools 3): digits {.digits} [letter] {_suffix[digits]} [~hexhash] [-rDIGITS]
// - number parts compare numerically, except that a dotted part with a leading zero ("1.05") compares
//   as text against its counterpart, as Gentoo does;
// - suffixes: _alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p;
// - when one version runs out first, the longer one is newer unless what it continues with is a
//   pre-release suffix; between two different kinds of continuation the one earlier in the grammar
//   (a dotted number, then a letter, a suffix, a hash, a revision) is the newer.
// apk-tools keeps numbers in 64 bits; here they have any length, which differs only for parts of
// more than 19 digits. Versions apk-tools rejects (it then falls back to partial ordering) are
// invalid here and compare() throws for them.
import {
  compareCodes,
  compareDigits,
  defineScheme,
  isDigitCode,
  isLowerCode,
  stripLeadingZeros,
} from './parse-support.js';

/** Token kinds in grammar order; the order itself is part of the comparison rules. */
const Kind = {
  InitialDigits: 0,
  Digits: 1,
  Letter: 2,
  Suffix: 3,
  SuffixNumber: 4,
  Hash: 5,
  Revision: 6,
  End: 7,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/** Suffix ranks; a release without suffix sits at 5, between the pre- and post-release words. */
const SUFFIX_RANK: ReadonlyMap<string, number> = new Map([
  ['alpha', 1],
  ['beta', 2],
  ['pre', 3],
  ['rc', 4],
  ['cvs', 6],
  ['svn', 7],
  ['git', 8],
  ['hg', 9],
  ['p', 10],
]);
const NO_SUFFIX_RANK = 5;

interface Token {
  readonly kind: Kind;
  /** The token's text: digits as written, the letter, the suffix word or the hash. */
  readonly text: string;
  /** Digits without leading zeros, or the suffix rank as a digit string. */
  readonly value: string;
}

function isHexCode(code: number): boolean {
  return isDigitCode(code) || (code >= 97 && code <= 102);
}

function runEnd(text: string, i: number, test: (code: number) => boolean): number {
  while (i < text.length && test(text.charCodeAt(i))) i++;
  return i;
}

function digitsToken(kind: Kind, text: string): Token {
  return { kind, text, value: stripLeadingZeros(text) };
}

/** Reads the token that starts at `i` after a token of kind `prev`; null when the grammar forbids it. */
function readToken(version: string, i: number, prev: Kind): { token: Token; next: number } | null {
  const c = version.charCodeAt(i);
  if (isLowerCode(c)) {
    if (prev > Kind.Digits) return null;
    return { token: { kind: Kind.Letter, text: version[i]!, value: '' }, next: i + 1 };
  }
  if (c === 46 /* . */ || isDigitCode(c)) {
    // A bare digit run can only follow a suffix word; dotted numbers only follow numbers.
    const kind =
      c === 46 ? (prev <= Kind.Digits ? Kind.Digits : null) : prev === Kind.Suffix ? Kind.SuffixNumber : null;
    const start = c === 46 ? i + 1 : i;
    const end = runEnd(version, start, isDigitCode);
    if (kind === null || end === start) return null;
    return { token: digitsToken(kind, version.slice(start, end)), next: end };
  }
  if (c === 95 /* _ */) {
    if (prev > Kind.SuffixNumber) return null;
    const end = runEnd(version, i + 1, isLowerCode);
    const word = version.slice(i + 1, end);
    const rank = SUFFIX_RANK.get(word);
    if (rank === undefined) return null;
    return { token: { kind: Kind.Suffix, text: word, value: String(rank) }, next: end };
  }
  if (c === 126 /* ~ */) {
    if (prev >= Kind.Hash) return null;
    const end = runEnd(version, i + 1, isHexCode);
    if (end === i + 1) return null;
    return { token: { kind: Kind.Hash, text: version.slice(i + 1, end), value: '' }, next: end };
  }
  if (c === 45 /* - */ && version.charCodeAt(i + 1) === 114 /* r */) {
    if (prev >= Kind.Revision) return null;
    const end = runEnd(version, i + 2, isDigitCode);
    if (end === i + 2) return null;
    return { token: digitsToken(Kind.Revision, version.slice(i + 2, end)), next: end };
  }
  return null;
}

function parseApk(version: string): readonly Token[] | null {
  const first = runEnd(version, 0, isDigitCode);
  if (first === 0) return null;
  const tokens: Token[] = [digitsToken(Kind.InitialDigits, version.slice(0, first))];
  let i = first;
  while (i < version.length) {
    const read = readToken(version, i, tokens[tokens.length - 1]!.kind);
    if (read === null) return null;
    tokens.push(read.token);
    i = read.next;
  }
  return tokens;
}

function compareTokens(a: Token, b: Token): number {
  switch (a.kind) {
    case Kind.Digits:
      // Gentoo's rule: "1.05" is a decimal-looking part, so leading zeros make it compare as text.
      if (a.text.charCodeAt(0) === 48 || b.text.charCodeAt(0) === 48) return compareCodes(a.text, b.text);
      return compareDigits(a.value, b.value);
    case Kind.InitialDigits:
    case Kind.SuffixNumber:
    case Kind.Revision:
    case Kind.Suffix:
      return compareDigits(a.value, b.value);
    default:
      return compareCodes(a.text, b.text);
  }
}

function isPreReleaseSuffix(token: Token | undefined): boolean {
  return token?.kind === Kind.Suffix && Number(token.value) < NO_SUFFIX_RANK;
}

function compareParsed(a: readonly Token[], b: readonly Token[]): number {
  let i = 0;
  for (; i < a.length && i < b.length && a[i]!.kind === b[i]!.kind; i++) {
    const d = compareTokens(a[i]!, b[i]!);
    if (d !== 0) return d;
  }
  const ta = a[i];
  const tb = b[i];
  const ka = ta?.kind ?? Kind.End;
  const kb = tb?.kind ?? Kind.End;
  if (ka === kb) return 0;
  if (isPreReleaseSuffix(ta)) return -1;
  if (isPreReleaseSuffix(tb)) return 1;
  // The continuation that comes earlier in the grammar is the newer version.
  return kb - ka;
}

export const apkVersions = defineScheme('apk', parseApk, compareParsed);
