// Python distributions installed in an image, from the core metadata pip and setuptools leave
// next to them: <name>.dist-info/METADATA (wheels), <name>.egg-info/PKG-INFO and the older single
// <name>.egg-info file (distutils). Only the header block is read, as Python's own email parser
// reads it: the long description after it can be megabytes of README and is never parsed.
// Fails the analysis: metadata that is not UTF-8 (core metadata must be). Skipped: metadata
// without a valid Name and Version. Nothing else fails: the format is as lenient as Python's parser.
import type { Cataloger, FileSet } from './cataloger.js';
import {
  MAX_PACKAGES,
  MAX_TEXT_CHARS,
  decodeUtf8,
  isSafeToken,
  safeText,
  tooManyPackages,
} from './database-text.js';
import type { InstalledPackage } from './package.js';
import { pypiPurl } from './purl.js';

const METADATA_FILE =
  /(?:^|\/)(?:site|dist)-packages\/[^/]+\.(?:dist-info\/METADATA|egg-info\/PKG-INFO|egg-info)$/;
// Core metadata's rule for a valid distribution name.
const DISTRIBUTION_NAME = /^(?:[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;
const KEPT_HEADERS = new Set([
  'name',
  'version',
  'license',
  'license-expression',
  'author',
  'author-email',
  'maintainer',
  'maintainer-email',
]);

export function wantsPythonMetadata(path: string): boolean {
  return METADATA_FILE.test(path);
}

/**
 * The headers Palisade uses (lower-cased names, first occurrence, folded lines joined by \n).
 * Like Python's email parser it stops at the first blank line or at a line that is not a header,
 * so a quirky file yields fewer fields rather than an error.
 */
export function parseMetadataHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  let current: string | undefined;
  for (let pos = 0; pos < text.length;) {
    const newline = text.indexOf('\n', pos);
    const end = newline < 0 ? text.length : newline;
    const line = text.slice(pos, text[end - 1] === '\r' ? end - 1 : end);
    pos = end + 1;
    if (line === '') break;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const value = current !== undefined ? headers.get(current) : undefined;
      // Values past the bound are dropped later anyway; stop growing them here.
      if (current !== undefined && value !== undefined && value.length <= MAX_TEXT_CHARS) {
        headers.set(current, `${value}\n${line.trim()}`);
      }
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) break;
    const name = line.slice(0, colon).toLowerCase();
    current = KEPT_HEADERS.has(name) && !headers.has(name) ? name : undefined;
    if (current !== undefined)
      headers.set(
        current,
        line
          .slice(colon + 1)
          .trim()
          .slice(0, MAX_TEXT_CHARS + 1),
      );
  }
  return headers;
}

/** `License-Expression` (metadata 2.4) or a one-line `License`; full licence texts are dropped. */
export function pythonLicenses(headers: Map<string, string>): string[] {
  const expression = safeText(headers.get('license-expression'));
  if (expression) return [expression];
  const license = safeText(headers.get('license'));
  return license && license.toUpperCase() !== 'UNKNOWN' ? [license] : [];
}

function pythonSupplier(headers: Map<string, string>): string | undefined {
  for (const name of ['author', 'author-email', 'maintainer', 'maintainer-email']) {
    const value = safeText(headers.get(name));
    if (value && value.toUpperCase() !== 'UNKNOWN') return value;
  }
  return undefined;
}

/** The distribution a metadata file describes, or undefined when its name or version is unusable. */
export function pythonPackage(headers: Map<string, string>, location: string): InstalledPackage | undefined {
  const name = headers.get('name');
  const version = headers.get('version');
  if (!name || !version || !DISTRIBUTION_NAME.test(name) || !isSafeToken(version)) return undefined;
  const pkg: InstalledPackage = {
    type: 'pypi',
    name,
    version,
    licenses: pythonLicenses(headers),
    location,
    purl: pypiPurl(name, version),
  };
  const supplier = pythonSupplier(headers);
  if (supplier) pkg.supplier = supplier;
  return pkg;
}

export const pythonPackagesCataloger: Cataloger = {
  name: 'python',
  maxFileBytes: 16 * 1024 * 1024,
  wants: wantsPythonMetadata,
  catalog(files: FileSet): InstalledPackage[] {
    const out: InstalledPackage[] = [];
    for (const path of files.paths()) {
      if (!wantsPythonMetadata(path)) continue;
      const bytes = files.get(path);
      if (!bytes) continue;
      const pkg = pythonPackage(parseMetadataHeaders(decodeUtf8(bytes, path)), path);
      if (!pkg) continue;
      if (out.length >= MAX_PACKAGES) throw tooManyPackages(path);
      out.push(pkg);
    }
    return out;
  },
};
