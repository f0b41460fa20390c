// Semantic Versioning 2.0.0 precedence (semver.org §11), used for npm packages and for every OSV range
// of type SEMVER, whatever its ecosystem.
//
// Choices, documented because OSV and npm differ slightly:
// - A single leading "v" is accepted and ignored ("v1.2.3" = "1.2.3"): npm's strict parser accepts it
//   and Go module versions, which OSV records as SEMVER ranges, always carry it. OSV itself writes the
//   versions without it. No "=", no surrounding whitespace (npm trims; the strings we compare are
//   already trimmed, so accepting them would only hide bad input).
// - Numbers have any length, as the specification says; npm refuses major/minor/patch above
//   2^53 - 1 and compares larger pre-release numbers imprecisely.
// - Build metadata must be well formed but takes no part in ordering: "1.0.0+a" equals "1.0.0+b".
import { compareCodes, compareDigits, defineScheme, isDigitCode, isLetterCode } from './parse-support.js';

interface PreIdentifier {
  readonly numeric: boolean;
  /** Digits (no leading zeros by the grammar) or the alphanumeric identifier. */
  readonly text: string;
}

interface SemVer {
  readonly major: string;
  readonly minor: string;
  readonly patch: string;
  readonly pre: readonly PreIdentifier[];
}

function isIdentifierChar(code: number): boolean {
  return isDigitCode(code) || isLetterCode(code) || code === 45; /* - */
}

function allDigits(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (!isDigitCode(text.charCodeAt(i))) return false;
  return true;
}

function isIdentifier(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) if (!isIdentifierChar(text.charCodeAt(i))) return false;
  return true;
}

/** A numeric identifier: "0" or digits without a leading zero. */
function isNumber(text: string): boolean {
  return text.length > 0 && allDigits(text) && (text.length === 1 || text.charCodeAt(0) !== 48);
}

function parsePre(text: string): PreIdentifier[] | null {
  const out: PreIdentifier[] = [];
  for (const id of text.split('.')) {
    if (!isIdentifier(id)) return null;
    const numeric = allDigits(id);
    if (numeric && !isNumber(id)) return null;
    out.push({ numeric, text: id });
  }
  return out;
}

function isBuild(text: string): boolean {
  return text.split('.').every(isIdentifier);
}

function parseSemver(version: string): SemVer | null {
  const body = version.charCodeAt(0) === 118 /* v */ ? version.slice(1) : version;
  const plus = body.indexOf('+');
  if (plus >= 0 && !isBuild(body.slice(plus + 1))) return null;
  const core = plus >= 0 ? body.slice(0, plus) : body;
  const hyphen = core.indexOf('-');
  const pre = hyphen >= 0 ? parsePre(core.slice(hyphen + 1)) : [];
  if (pre === null) return null;
  const parts = (hyphen >= 0 ? core.slice(0, hyphen) : core).split('.');
  if (parts.length !== 3 || !parts.every(isNumber)) return null;
  return { major: parts[0]!, minor: parts[1]!, patch: parts[2]!, pre };
}

function compareIdentifiers(a: PreIdentifier, b: PreIdentifier): number {
  if (a.numeric && b.numeric) return compareDigits(a.text, b.text);
  if (a.numeric !== b.numeric) return a.numeric ? -1 : 1;
  return compareCodes(a.text, b.text);
}

function comparePre(a: readonly PreIdentifier[], b: readonly PreIdentifier[]): number {
  // A release (no identifiers) outranks any of its pre-releases.
  if (a.length === 0 || b.length === 0) return b.length - a.length;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = compareIdentifiers(a[i]!, b[i]!);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function compareParsed(a: SemVer, b: SemVer): number {
  return (
    compareDigits(a.major, b.major) ||
    compareDigits(a.minor, b.minor) ||
    compareDigits(a.patch, b.patch) ||
    comparePre(a.pre, b.pre)
  );
}

export const semverVersions = defineScheme('semver', parseSemver, compareParsed);
