// What every cataloger does with the bytes of a wanted file before parsing it: strict UTF-8
// decoding that names the offending file, bounded line splitting, and the checks that keep
// hostile values (huge names, control characters) out of the inventory and the SBOMs built from it.
import { AnalysisError } from '../analysis-error.js';

/** Most packages one cataloger reports for an image; more fails the analysis (database-too-large). */
export const MAX_PACKAGES = 100_000;
/** Owned files kept per package; the rest are dropped, the package is still reported. */
export const MAX_FILES_PER_PACKAGE = 10_000;
/** Longest owned-file path kept; longer ones are dropped. */
export const MAX_FILE_PATH_CHARS = 4096;
/** Longest package name or version accepted. */
export const MAX_NAME_CHARS = 256;
/** Longest licence or supplier string kept; longer ones (often a whole licence text) are dropped. */
export const MAX_TEXT_CHARS = 1024;

/** A path inside the image, quoted and shortened so that it is safe to put in an error message. */
export function describePath(path: string): string {
  return JSON.stringify(path.length > 300 ? `${path.slice(0, 300)}…` : path);
}

/** Decodes UTF-8 (dropping a byte-order mark); throws invalid-utf8 naming the file. */
export function decodeUtf8(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new AnalysisError('invalid-utf8', `${describePath(path)} is not valid UTF-8`);
  }
}

/**
 * Splits text into lines (LF or CRLF). A line longer than `maxLineChars` fails as malformed: no
 * real package database has one, and it keeps per-line work bounded.
 */
export function splitLines(text: string, path: string, maxLineChars: number): string[] {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length > maxLineChars) {
      throw malformed(path, `line ${i + 1} is longer than ${maxLineChars} characters`);
    }
    lines[i] = line;
  }
  return lines;
}

export function malformed(path: string, problem: string): AnalysisError {
  return new AnalysisError('malformed-database', `${describePath(path)}: ${problem}`);
}

export function tooManyPackages(path: string): AnalysisError {
  return new AnalysisError('database-too-large', `${describePath(path)}: more than ${MAX_PACKAGES} packages`);
}

// Whitespace, C0/C1 controls, DEL and Unicode line separators never occur in a real name or
// version; letting them through would let an image forge lines in reports.
const UNSAFE_TOKEN = /[\s\p{Cc}\u2028\u2029]/u;
const UNSAFE_TEXT = /[\p{Cc}\u2028\u2029]/u;

/** A name or version: non-empty, bounded, no whitespace or control characters. */
export function isSafeToken(value: string): boolean {
  return value.length > 0 && value.length <= MAX_NAME_CHARS && !UNSAFE_TOKEN.test(value);
}

/** A free-text value (licence, supplier) worth keeping: bounded, single line, no controls. */
export function safeText(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  if (!trimmed || trimmed.length > MAX_TEXT_CHARS || UNSAFE_TEXT.test(trimmed)) return undefined;
  return trimmed;
}

/**
 * Normalises an owned-file path to the FileSet form (relative, no leading slash) or returns
 * undefined for one that is empty, too long, or escapes the root: such entries are dropped, not
 * trusted.
 */
export function ownedFilePath(raw: string): string | undefined {
  const path = raw.replace(/^\/+/, '');
  if (path === '' || path === '.' || path.length > MAX_FILE_PATH_CHARS) return undefined;
  if (UNSAFE_TEXT.test(path) || path.split('/').some((part) => part === '..')) return undefined;
  return path;
}

/** Adds to a per-package file list while it is under the bound. */
export function pushBounded(list: string[], path: string | undefined): void {
  if (path !== undefined && list.length < MAX_FILES_PER_PACKAGE) list.push(path);
}

/** The last path component. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Everything before the last path component, without the slash ('' at the root). */
export function dirName(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}
