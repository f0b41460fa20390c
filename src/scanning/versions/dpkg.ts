// Debian package versions ([epoch:]upstream[-revision]) ordered as Debian Policy §5.6.12 and dpkg do,
// so Debian and Ubuntu advisories are matched against installed packages exactly as apt would order them.
//
// Validity follows dpkg's own parser, counting what dpkg merely warns about (an upstream part that does
// not start with a digit, characters outside the allowed set) as invalid, plus two deliberate
// strictnesses: no surrounding whitespace (dpkg trims it) and an epoch of plain digits (dpkg's strtol
// would also take "+1").
import {
  compareDigits,
  defineScheme,
  isDigitCode,
  isLetterCode,
  stripLeadingZeros,
} from './parse-support.js';

/** Upstream version or revision, split into non-digit parts (as weights) and digit parts. */
interface Fragment {
  readonly words: readonly (readonly number[])[];
  /** Digit parts without leading zeros; numbers[k] follows words[k]. */
  readonly numbers: readonly string[];
}

interface DpkgVersion {
  /** Digits without leading zeros ("" for none or 0). */
  readonly epoch: string;
  readonly upstream: Fragment;
  readonly revision: Fragment;
}

/** dpkg stores the epoch in an int, and refuses anything larger. */
const MAX_EPOCH = '2147483647';

function isUpstreamChar(code: number): boolean {
  // . + ~ - :  (hyphens and colons can only get here when a revision or an epoch was split off)
  return (
    isDigitCode(code) ||
    isLetterCode(code) ||
    code === 46 ||
    code === 43 ||
    code === 126 ||
    code === 45 ||
    code === 58
  );
}

function isRevisionChar(code: number): boolean {
  return isDigitCode(code) || isLetterCode(code) || code === 46 || code === 43 || code === 126;
}

function allChars(text: string, test: (code: number) => boolean): boolean {
  for (let i = 0; i < text.length; i++) if (!test(text.charCodeAt(i))) return false;
  return true;
}

function parseEpoch(text: string): string | null {
  if (text.length === 0 || !allChars(text, isDigitCode)) return null;
  const digits = stripLeadingZeros(text);
  return compareDigits(digits, MAX_EPOCH) > 0 ? null : digits;
}

function parseDpkg(version: string): DpkgVersion | null {
  const colon = version.indexOf(':');
  const epoch = colon < 0 ? '' : parseEpoch(version.slice(0, colon));
  if (epoch === null) return null;
  const rest = colon < 0 ? version : version.slice(colon + 1);
  // The revision is whatever follows the last hyphen, so the upstream part may itself contain hyphens.
  const hyphen = rest.lastIndexOf('-');
  const upstream = hyphen < 0 ? rest : rest.slice(0, hyphen);
  const revision = hyphen < 0 ? '' : rest.slice(hyphen + 1);
  if (hyphen >= 0 && revision.length === 0) return null;
  if (upstream.length === 0 || !isDigitCode(upstream.charCodeAt(0))) return null;
  if (!allChars(upstream, isUpstreamChar) || !allChars(revision, isRevisionChar)) return null;
  return { epoch, upstream: split(upstream), revision: split(revision) };
}

/**
 * Weight of a character in a non-digit part: "~" sorts before the end of the part (weight 0), letters
 * by ASCII after it, and every other character after all letters.
 */
function weight(code: number): number {
  if (code === 126) return -1;
  return isLetterCode(code) ? code : code + 256;
}

/** Splits an upstream or revision string into its alternating non-digit and digit parts, once. */
function split(text: string): Fragment {
  const words: number[][] = [];
  const numbers: string[] = [];
  let i = 0;
  while (i < text.length) {
    const word: number[] = [];
    for (; i < text.length && !isDigitCode(text.charCodeAt(i)); i++) word.push(weight(text.charCodeAt(i)));
    const start = i;
    while (i < text.length && isDigitCode(text.charCodeAt(i))) i++;
    words.push(word);
    numbers.push(stripLeadingZeros(text.slice(start, i)));
  }
  return { words, numbers };
}

const NO_WORD: readonly number[] = [];

/** Compares two non-digit parts; the shorter one is padded with the end-of-part weight 0. */
function compareWords(a: readonly number[], b: readonly number[]): number {
  const n = Math.max(a.length, b.length);
  for (let k = 0; k < n; k++) {
    const d = (a[k] ?? 0) - (b[k] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Compares part by part, left to right; a fragment that runs out continues as empty parts and zeros. */
function compareFragments(a: Fragment, b: Fragment): number {
  const n = Math.max(a.words.length, b.words.length);
  for (let k = 0; k < n; k++) {
    const d =
      compareWords(a.words[k] ?? NO_WORD, b.words[k] ?? NO_WORD) ||
      compareDigits(a.numbers[k] ?? '', b.numbers[k] ?? '');
    if (d !== 0) return d;
  }
  return 0;
}

function compareParsed(a: DpkgVersion, b: DpkgVersion): number {
  return (
    compareDigits(a.epoch, b.epoch) ||
    compareFragments(a.upstream, b.upstream) ||
    compareFragments(a.revision, b.revision)
  );
}

export const dpkgVersions = defineScheme('dpkg', parseDpkg, compareParsed);
