// Small pieces every version scheme needs: numeric comparison of digit runs of any length (version
// numbers such as 20240101123456789012 overflow a JavaScript number), a bounded parse cache, so the
// matcher's hot loop parses each distinct version string once, and defineScheme, which turns a parser
// and a comparator of parsed versions into a VersionScheme.
import { InvalidVersionError, type VersionScheme } from './version-scheme.js';

/** True for the ASCII digits 0-9 (by char code; versions are compared without locale rules). */
export function isDigitCode(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** True for ASCII a-z. */
export function isLowerCode(code: number): boolean {
  return code >= 97 && code <= 122;
}

/** True for ASCII letters, either case. */
export function isLetterCode(code: number): boolean {
  return (code >= 65 && code <= 90) || isLowerCode(code);
}

/** The digits of a run without its leading zeros ("" for zero), the form compareDigits expects. */
export function stripLeadingZeros(digits: string): string {
  let i = 0;
  while (i < digits.length && digits.charCodeAt(i) === 48) i++;
  return i === 0 ? digits : digits.slice(i);
}

/**
 * Compares two non-negative integers written as digit strings without leading zeros: the longer one
 * is larger, equal lengths compare digit by digit. Negative, zero or positive like any comparator.
 */
export function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return compareCodes(a, b);
}

/**
 * Compares two strings by UTF-16 code unit, shorter prefix first: the byte order that C's memcmp gives
 * for the ASCII strings version schemes allow. Used for identifiers that a scheme orders as text.
 */
export function compareCodes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Maps a comparator result onto -1, 0 or 1. */
export function sign(n: number): -1 | 0 | 1 {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/**
 * Remembers the parse of recent version strings (null for invalid ones). Cleared wholesale when full:
 * cheaper than LRU bookkeeping, and a scan touches far fewer distinct versions than the bound.
 */
export class ParseCache<T> {
  private readonly entries = new Map<string, T | null>();

  constructor(
    private readonly parse: (version: string) => T | null,
    private readonly maxEntries = 8192,
  ) {}

  get(version: string): T | null {
    const hit = this.entries.get(version);
    if (hit !== undefined) return hit;
    const parsed = this.parse(version);
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(version, parsed);
    return parsed;
  }
}

/**
 * The VersionScheme for a parser (null for an invalid version) and a comparator of parsed versions:
 * isValid and compare share one parse cache, and compare throws InvalidVersionError for the first of
 * its arguments that does not parse.
 */
export function defineScheme<T>(
  name: string,
  parse: (version: string) => T | null,
  compareParsed: (a: T, b: T) => number,
): VersionScheme {
  const cache = new ParseCache(parse);
  const parsed = (version: string): T => {
    const p = cache.get(version);
    if (p === null) throw new InvalidVersionError(name, version);
    return p;
  };
  return {
    name,
    isValid: (version) => cache.get(version) !== null,
    compare: (a, b) => compareParsed(parsed(a), parsed(b)),
  };
}
