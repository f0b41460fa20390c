// Debian and Ubuntu images record installed packages in var/lib/dpkg/status; distroless images
// instead carry one control file per package in var/lib/dpkg/status.d/. Both are deb822
// paragraphs, read strictly (dpkg itself refuses a status file with broken syntax). Owned files
// come from dpkg's .list files (or distroless .md5sums), licences from machine-readable copyright
// files where the image still has them.
// Fails the analysis: status, status.d, .list or .md5sums bytes that are not UTF-8; deb822 syntax
// errors (a line that is neither a field nor a continuation, a repeated field); an installed
// package without Version; a Status that is not three words; an unsafe name, version,
// architecture or Source. Skipped: paragraphs without a Package value (seen in real status files),
// packages not in state "installed", copyright files that are not UTF-8 or not DEP-5.
import type { Cataloger, FileSet } from './cataloger.js';
import {
  MAX_PACKAGES,
  baseName,
  decodeUtf8,
  isSafeToken,
  malformed,
  ownedFilePath,
  pushBounded,
  safeText,
  splitLines,
  tooManyPackages,
} from './database-text.js';
import type { Distro, InstalledPackage } from './package.js';
import { osPackagePurl } from './purl.js';

export const DPKG_STATUS_PATH = 'var/lib/dpkg/status';
const STATUS_D = 'var/lib/dpkg/status.d/';
const INFO_DIR = 'var/lib/dpkg/info/';
const MAX_LINE_CHARS = 256 * 1024;
const MAX_LICENSES_PER_PACKAGE = 32;

export interface Deb822Paragraph {
  /** 1-based line of the paragraph's first field. */
  line: number;
  /** Field names lower-cased (deb822 names are case-insensitive); continuation lines joined by \n. */
  fields: Map<string, string>;
}

// deb822 field names: printable US-ASCII except colon, not starting with '#' or '-'.
const FIELD_NAME = /^[!-"$-,.-9;-~][!-9;-~]*$/;

/** Splits deb822 text into paragraphs; throws malformed-database on syntax dpkg would reject. */
export function parseDeb822(text: string, path: string): Deb822Paragraph[] {
  const paragraphs: Deb822Paragraph[] = [];
  let current: Deb822Paragraph | undefined;
  let lastField: string | undefined;
  const lines = splitLines(text, path, MAX_LINE_CHARS);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') {
      current = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!current || lastField === undefined) throw malformed(path, `line ${i + 1} continues no field`);
      current.fields.set(lastField, `${current.fields.get(lastField)}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!FIELD_NAME.test(name)) throw malformed(path, `line ${i + 1} is not a "Field: value" line`);
    if (!current) {
      if (paragraphs.length >= MAX_PACKAGES) throw tooManyPackages(path);
      current = { line: i + 1, fields: new Map() };
      paragraphs.push(current);
    }
    lastField = name.toLowerCase();
    if (current.fields.has(lastField)) throw malformed(path, `line ${i + 1} repeats the ${name} field`);
    current.fields.set(lastField, line.slice(colon + 1).trim());
  }
  return paragraphs;
}

/** A paragraph that describes an installed package, with its fields checked. */
export interface DpkgEntry {
  name: string;
  version: string;
  arch?: string;
  sourceName?: string;
  sourceVersion?: string;
  maintainer?: string;
}

/**
 * The installed package a paragraph describes, or undefined for one that is not installed (or has
 * no package name at all, which real status files occasionally carry). `statusRequired` is false
 * for distroless status.d files, which have no Status field and list only installed packages.
 */
export function dpkgEntry(
  paragraph: Deb822Paragraph,
  path: string,
  statusRequired: boolean,
): DpkgEntry | undefined {
  const fields = paragraph.fields;
  const where = `the paragraph at line ${paragraph.line}`;
  const name = fields.get('package');
  if (!name) return undefined;
  const status = fields.get('status');
  if (status !== undefined) {
    const words = status.split(/\s+/);
    if (words.length !== 3) throw malformed(path, `${where} has a Status that is not "want flag status"`);
    if (words[2] !== 'installed') return undefined;
  } else if (statusRequired) {
    return undefined;
  }
  const version = fields.get('version');
  if (version === undefined) throw malformed(path, `${where} (installed) has no Version`);
  const arch = fields.get('architecture') || undefined;
  for (const [label, value] of [
    ['package name', name],
    ['version', version],
    ['architecture', arch],
  ] as const) {
    if (value !== undefined && !isSafeToken(value)) throw malformed(path, `${where} has an invalid ${label}`);
  }
  const entry: DpkgEntry = { name, version };
  if (arch) entry.arch = arch;
  const source = fields.get('source');
  if (source) Object.assign(entry, parseSource(source, entry, path, where));
  const maintainer = safeText(fields.get('maintainer'));
  if (maintainer) entry.maintainer = maintainer;
  return entry;
}

/** `Source: name` or `Source: name (version)`, kept only where it differs from the binary package. */
function parseSource(
  source: string,
  binary: { name: string; version: string },
  path: string,
  where: string,
): Pick<DpkgEntry, 'sourceName' | 'sourceVersion'> {
  const match = /^(\S+)(?:\s+\((\S+)\))?$/.exec(source);
  if (!match || !isSafeToken(match[1]!) || (match[2] !== undefined && !isSafeToken(match[2]))) {
    throw malformed(path, `${where} has an invalid Source`);
  }
  const result: Pick<DpkgEntry, 'sourceName' | 'sourceVersion'> = {};
  if (match[1] !== binary.name) result.sourceName = match[1]!;
  if (match[2] !== undefined && match[2] !== binary.version) result.sourceVersion = match[2];
  return result;
}

/**
 * Regular files from a dpkg .list file. The list names directories too; an entry that is the
 * parent of another entry is a directory and is left out (empty directories the package owns
 * cannot be told apart and stay in).
 */
export function parseDpkgList(text: string, path: string): string[] {
  const entries: string[] = [];
  for (const line of splitLines(text, path, MAX_LINE_CHARS)) {
    const entry = ownedFilePath(line);
    if (entry !== undefined) entries.push(entry);
  }
  const directories = new Set<string>();
  for (const entry of entries) {
    for (let slash = entry.indexOf('/'); slash > 0; slash = entry.indexOf('/', slash + 1)) {
      directories.add(entry.slice(0, slash));
    }
  }
  const files: string[] = [];
  for (const entry of entries) if (!directories.has(entry)) pushBounded(files, entry);
  return files;
}

/** Files from a distroless `<pkg>.md5sums`: `<md5>  <path>` lines. */
export function parseMd5sums(text: string, path: string): string[] {
  const files: string[] = [];
  for (const line of splitLines(text, path, MAX_LINE_CHARS)) {
    const match = /^[0-9a-f]{32} [ *](.+)$/.exec(line);
    if (match) pushBounded(files, ownedFilePath(match[1]!));
  }
  return files;
}

/**
 * Licence short names from a machine-readable (DEP-5) copyright file, in file order; [] for a
 * free-form one. Licences are an enrichment, so a copyright file that is not UTF-8 or not valid
 * deb822 yields none rather than failing the analysis.
 */
export function parseCopyrightLicenses(bytes: Buffer, path: string): string[] {
  let paragraphs: Deb822Paragraph[];
  try {
    paragraphs = parseDeb822(decodeUtf8(bytes, path), path);
  } catch {
    return [];
  }
  if (!paragraphs[0]?.fields.get('format')?.includes('copyright-format')) return [];
  const licenses = new Set<string>();
  for (const paragraph of paragraphs) {
    const shortName = safeText(paragraph.fields.get('license')?.split('\n')[0]);
    if (shortName && licenses.size < MAX_LICENSES_PER_PACKAGE) licenses.add(shortName);
  }
  return [...licenses];
}

function isStatusDFile(path: string): boolean {
  return path.startsWith(STATUS_D) && !path.slice(STATUS_D.length).includes('/');
}

/** Whether a path is one of the files this cataloger reads. */
export function wantsDpkgFile(path: string): boolean {
  if (path === DPKG_STATUS_PATH || isStatusDFile(path)) return true;
  if (path.startsWith(INFO_DIR)) return path.endsWith('.list') && !path.slice(INFO_DIR.length).includes('/');
  return /^usr\/share\/doc\/[^/]+\/copyright$/.test(path);
}

function ownedFiles(files: FileSet, entry: DpkgEntry, statusDPath: string | undefined): string[] {
  const candidates = [`${INFO_DIR}${entry.name}.list`];
  if (entry.arch) candidates.unshift(`${INFO_DIR}${entry.name}:${entry.arch}.list`);
  for (const candidate of candidates) {
    const bytes = files.get(candidate);
    if (bytes) return parseDpkgList(decodeUtf8(bytes, candidate), candidate);
  }
  const md5sums = statusDPath && `${statusDPath}.md5sums`;
  const bytes = md5sums ? files.get(md5sums) : undefined;
  return bytes && md5sums ? parseMd5sums(decodeUtf8(bytes, md5sums), md5sums) : [];
}

function copyrightLicenses(files: FileSet, name: string): string[] {
  const path = `usr/share/doc/${name}/copyright`;
  const bytes = files.get(path);
  return bytes ? parseCopyrightLicenses(bytes, path) : [];
}

export function dpkgPackage(
  entry: DpkgEntry,
  distro: Distro | undefined,
  location: string,
  files: string[],
  licenses: string[],
): InstalledPackage {
  const pkg: InstalledPackage = {
    type: 'deb',
    name: entry.name,
    version: entry.version,
    licenses,
    location,
    files,
    purl: osPackagePurl('deb', distro, entry),
  };
  if (entry.sourceName) pkg.sourceName = entry.sourceName;
  if (entry.sourceVersion) pkg.sourceVersion = entry.sourceVersion;
  if (entry.arch) pkg.arch = entry.arch;
  if (entry.maintainer) pkg.supplier = entry.maintainer;
  return pkg;
}

function catalogDatabase(
  files: FileSet,
  distro: Distro | undefined,
  path: string,
  out: InstalledPackage[],
): void {
  const bytes = files.get(path);
  if (!bytes) return;
  const statusD = path !== DPKG_STATUS_PATH;
  const entries = parseDeb822(decodeUtf8(bytes, path), path)
    .map((paragraph) => dpkgEntry(paragraph, path, !statusD))
    .filter((entry) => entry !== undefined);
  for (const entry of entries) {
    if (out.length >= MAX_PACKAGES) throw tooManyPackages(path);
    const owned = ownedFiles(files, entry, statusD && entries.length === 1 ? path : undefined);
    out.push(dpkgPackage(entry, distro, path, owned, copyrightLicenses(files, entry.name)));
  }
}

export const dpkgStatusCataloger: Cataloger = {
  name: 'dpkg',
  maxFileBytes: 64 * 1024 * 1024,
  wants: wantsDpkgFile,
  catalog(files: FileSet, distro: Distro | undefined): InstalledPackage[] {
    const out: InstalledPackage[] = [];
    catalogDatabase(files, distro, DPKG_STATUS_PATH, out);
    for (const path of files.paths()) {
      if (isStatusDFile(path) && !baseName(path).endsWith('.md5sums'))
        catalogDatabase(files, distro, path, out);
    }
    return out;
  },
};
