// Alpine and Wolfi images record their installed packages in lib/apk/db/installed. This reads it
// the way apk itself does and turns each record into an InstalledPackage.
// Fails the analysis: bytes that are not UTF-8, a line that is not `K:value`, a record without P:
// or V:, a repeated single-valued field, a name/version/arch/origin with whitespace or controls or
// over 256 characters, more than 100,000 records. Dropped quietly: owned paths escaping the root,
// owned files past 10,000 per package, licence or maintainer text that is too long to be one.
import type { Cataloger, FileSet } from './cataloger.js';
import {
  MAX_PACKAGES,
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

export const APK_DATABASE_PATH = 'lib/apk/db/installed';
const MAX_LINE_CHARS = 64 * 1024;

/** One record of the database, with the fields Palisade uses. */
export interface ApkRecord {
  name: string;
  version: string;
  arch?: string;
  origin?: string;
  license?: string;
  maintainer?: string;
  files: string[];
}

interface RecordDraft {
  line: number;
  fields: Map<string, string>;
  directory: string;
  files: string[];
}

// Single-valued fields: apk writes each once per record, so a repeat means a forged or corrupt record.
const SINGLE_FIELDS = new Set(['P', 'V', 'A', 'o', 'L', 'm']);

/** Parses the whole database; throws malformed-database for anything apk would not have written. */
export function parseApkDatabase(text: string, path: string): ApkRecord[] {
  const records: ApkRecord[] = [];
  let draft: RecordDraft | undefined;
  const lines = splitLines(text, path, MAX_LINE_CHARS);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') {
      if (draft) records.push(finishRecord(draft, path, records.length));
      draft = undefined;
      continue;
    }
    if (line.length < 2 || line[1] !== ':') throw malformed(path, `line ${i + 1} is not a "K:value" field`);
    draft ??= { line: i + 1, fields: new Map(), directory: '', files: [] };
    addField(draft, line[0]!, line.slice(2), path, i + 1);
  }
  if (draft) records.push(finishRecord(draft, path, records.length));
  return records;
}

function addField(draft: RecordDraft, key: string, value: string, path: string, line: number): void {
  if (key === 'F') {
    draft.directory = value;
  } else if (key === 'R') {
    pushBounded(draft.files, ownedFilePath(draft.directory ? `${draft.directory}/${value}` : value));
  } else if (SINGLE_FIELDS.has(key)) {
    if (draft.fields.has(key)) throw malformed(path, `line ${line} repeats the ${key}: field of its record`);
    draft.fields.set(key, value);
  }
}

function finishRecord(draft: RecordDraft, path: string, count: number): ApkRecord {
  if (count >= MAX_PACKAGES) throw tooManyPackages(path);
  const where = `the record at line ${draft.line}`;
  const name = draft.fields.get('P');
  const version = draft.fields.get('V');
  if (name === undefined) throw malformed(path, `${where} has no P: (package name)`);
  if (version === undefined) throw malformed(path, `${where} has no V: (version)`);
  const record: ApkRecord = { name, version, files: draft.files };
  const arch = draft.fields.get('A');
  const origin = draft.fields.get('o');
  for (const [label, value] of [
    ['name', name],
    ['version', version],
    ['architecture', arch],
    ['origin', origin],
  ] as const) {
    if (value !== undefined && !isSafeToken(value)) throw malformed(path, `${where} has an invalid ${label}`);
  }
  if (arch) record.arch = arch;
  if (origin) record.origin = origin;
  const license = safeText(draft.fields.get('L'));
  if (license) record.license = license;
  const maintainer = safeText(draft.fields.get('m'));
  if (maintainer) record.maintainer = maintainer;
  return record;
}

export function apkPackage(
  record: ApkRecord,
  distro: Distro | undefined,
  location: string,
): InstalledPackage {
  const sourceName = record.origin && record.origin !== record.name ? record.origin : undefined;
  const pkg: InstalledPackage = {
    type: 'apk',
    name: record.name,
    version: record.version,
    licenses: record.license ? [record.license] : [],
    location,
    files: record.files,
    purl: osPackagePurl('apk', distro, { ...record, sourceName }),
  };
  if (sourceName) pkg.sourceName = sourceName;
  if (record.arch) pkg.arch = record.arch;
  if (record.maintainer) pkg.supplier = record.maintainer;
  return pkg;
}

export const apkInstalledCataloger: Cataloger = {
  name: 'apk',
  maxFileBytes: 64 * 1024 * 1024,
  wants: (path) => path === APK_DATABASE_PATH,
  catalog(files: FileSet, distro: Distro | undefined): InstalledPackage[] {
    const bytes = files.get(APK_DATABASE_PATH);
    if (!bytes) return [];
    const records = parseApkDatabase(decodeUtf8(bytes, APK_DATABASE_PATH), APK_DATABASE_PATH);
    return records.map((record) => apkPackage(record, distro, APK_DATABASE_PATH));
  },
};
