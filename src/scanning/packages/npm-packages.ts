// Node.js packages in an image: every installed node_modules/<name>/package.json (the only
// reliable record of what is on disk), plus package-lock.json files shipped without their
// node_modules, whose entries stand in for packages that were not installed in the image.
// Two catalogers because their size limits differ: a package.json is small, a lockfile of a large
// application is megabytes.
// Fails the analysis: an installed package.json that is not UTF-8 or not a JSON object (npm could
// not have installed it), a lockfile that is not UTF-8. Skipped: manifests without a usable name
// and version (workspace roots, stubs), lockfiles that are not JSON or have no `packages` map.
import { JsonTooDeepError, parseBoundedJson } from '../../lib/bounded-json.js';
import { AnalysisError } from '../analysis-error.js';
import type { Cataloger, FileSet } from './cataloger.js';
import {
  MAX_PACKAGES,
  decodeUtf8,
  dirName,
  isSafeToken,
  malformed,
  safeText,
  tooManyPackages,
} from './database-text.js';
import type { InstalledPackage } from './package.js';
import { npmPurl } from './purl.js';

const MAX_LICENSES = 16;
const MAX_LOCK_KEY_CHARS = 4096;
// npm's own limit on package names.
const MAX_NPM_NAME_CHARS = 214;

// A package directory directly inside node_modules: `node_modules/<name>` or
// `node_modules/@scope/<name>`, names not starting with '.' (node_modules/.bin, .pnpm, .cache).
const INSTALLED_PACKAGE_JSON = /(?:^|\/)node_modules\/(?:@[^/.][^/]*\/)?[^/.@][^/]*\/package\.json$/;

export function wantsInstalledPackageJson(path: string): boolean {
  return INSTALLED_PACKAGE_JSON.test(path);
}

/** Lockfiles of applications, not npm's hidden lockfile or lockfiles vendored inside packages. */
export function wantsLockfile(path: string): boolean {
  return (path === 'package-lock.json' || path.endsWith('/package-lock.json')) && !isInNodeModules(path);
}

function isInNodeModules(path: string): boolean {
  return path.split('/').includes('node_modules');
}

/** A name npm could have installed: bounded, URL-safe, optionally `@scope/`. */
export function isNpmName(name: string): boolean {
  return (
    name.length <= MAX_NPM_NAME_CHARS &&
    /^(?:@[A-Za-z0-9._~!*'()-]+\/)?[A-Za-z0-9._~!*'()-]+$/.test(name) &&
    !/^[._]/.test(name)
  );
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses a JSON file that must be an object; anything else is malformed-database. */
function parseJsonObject(bytes: Buffer, path: string): JsonObject {
  let value: unknown;
  try {
    value = parseBoundedJson(decodeUtf8(bytes, path));
  } catch (error) {
    if (error instanceof SyntaxError) throw malformed(path, 'is not valid JSON');
    if (error instanceof JsonTooDeepError) throw malformed(path, 'nests JSON too deeply');
    throw error;
  }
  if (!isObject(value)) throw malformed(path, 'is not a JSON object');
  return value;
}

/** Declared licences: `license` (string or legacy `{type}`) and legacy `licenses` arrays. */
export function npmLicenses(manifest: JsonObject): string[] {
  const declared: unknown[] = [];
  const { license, licenses } = manifest;
  if (license !== undefined) declared.push(license);
  if (Array.isArray(licenses)) declared.push(...(licenses as unknown[]).slice(0, MAX_LICENSES));
  else if (licenses !== undefined) declared.push(licenses);
  const result = new Set<string>();
  for (const entry of declared) {
    const text = safeText(
      typeof entry === 'string' ? entry : isObject(entry) ? asString(entry.type) : undefined,
    );
    if (text && result.size < MAX_LICENSES) result.add(text);
  }
  return [...result];
}

/** `author` as a string, or `{name, email}` rendered as `name <email>`. */
export function npmAuthor(manifest: JsonObject): string | undefined {
  const { author } = manifest;
  if (typeof author === 'string') return safeText(author);
  if (!isObject(author)) return undefined;
  const name = asString(author.name);
  const email = asString(author.email);
  return safeText(name && email ? `${name} <${email}>` : (name ?? email));
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * The package a package.json describes, or undefined when it lacks a usable name and version
 * (workspace roots, fixtures, private stubs): those are not installed packages.
 */
export function packageFromManifest(manifest: JsonObject, location: string): InstalledPackage | undefined {
  const name = asString(manifest.name);
  const version = asString(manifest.version);
  if (!name || !version || !isNpmName(name) || !isSafeToken(version)) return undefined;
  const pkg: InstalledPackage = {
    type: 'npm',
    name,
    version,
    licenses: npmLicenses(manifest),
    location,
    purl: npmPurl(name, version),
  };
  const author = npmAuthor(manifest);
  if (author) pkg.supplier = author;
  return pkg;
}

export const npmInstalledCataloger: Cataloger = {
  name: 'npm',
  maxFileBytes: 1024 * 1024,
  wants: wantsInstalledPackageJson,
  catalog(files: FileSet): InstalledPackage[] {
    const out: InstalledPackage[] = [];
    for (const path of files.paths()) {
      if (!wantsInstalledPackageJson(path)) continue;
      const bytes = files.get(path);
      if (!bytes) continue;
      const pkg = packageFromManifest(parseJsonObject(bytes, path), path);
      if (!pkg) continue;
      if (out.length >= MAX_PACKAGES) throw tooManyPackages(path);
      out.push(pkg);
    }
    return out;
  },
};

// Keys of the lockfile `packages` map that are installed packages: node_modules paths, possibly
// nested. Workspace members ("packages/a") and links outside the tree ("../x") are not.
const LOCK_PACKAGE_KEY =
  /^(?:node_modules\/(?:@[^/]+\/)?[^/@][^/]*\/)*node_modules\/(?:@[^/]+\/)?[^/@][^/]*$/;

/** The name a lockfile key installs under: its last `node_modules/` segment. */
function nameFromLockKey(key: string): string {
  return key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

/**
 * Lockfile entries (lockfileVersion 2 and 3) that would have been installed but have no
 * package.json in the image. Dev and optional entries are left out: a production install omits
 * them (or, for optional ones, usually installs another platform's variant), and reporting them
 * would flag packages the image does not ship. Version 1 lockfiles have no `packages` map and yield
 * nothing.
 */
export function lockfilePackages(
  lockfile: JsonObject,
  path: string,
  installed: (path: string) => boolean,
): InstalledPackage[] {
  const packages = lockfile.packages;
  if (!isObject(packages)) return [];
  const root = dirName(path);
  const out: InstalledPackage[] = [];
  for (const [key, entry] of Object.entries(packages)) {
    if (key.length > MAX_LOCK_KEY_CHARS || !LOCK_PACKAGE_KEY.test(key) || !isObject(entry)) continue;
    if (entry.link === true || entry.dev === true || entry.optional === true || entry.devOptional === true)
      continue;
    if (installed(root ? `${root}/${key}/package.json` : `${key}/package.json`)) continue;
    const pkg = packageFromManifest({ ...entry, name: asString(entry.name) ?? nameFromLockKey(key) }, path);
    if (!pkg) continue;
    if (out.length >= MAX_PACKAGES) throw tooManyPackages(path);
    out.push(pkg);
  }
  return out;
}

/**
 * A lockfile, or undefined when it is not a JSON object. Unlike an installed package.json, a
 * lockfile only supplements the inventory, and real images do ship broken ones (merge-conflict
 * markers committed with the source), so it is skipped rather than failing the analysis. Bytes that
 * are not UTF-8 still fail, as everywhere.
 */
function parseLockfile(bytes: Buffer, path: string): JsonObject | undefined {
  try {
    return parseJsonObject(bytes, path);
  } catch (error) {
    if (error instanceof AnalysisError && error.reason === 'malformed-database') return undefined;
    throw error;
  }
}

export const npmLockfileCataloger: Cataloger = {
  name: 'npm-lockfile',
  maxFileBytes: 64 * 1024 * 1024,
  wants: wantsLockfile,
  catalog(files: FileSet): InstalledPackage[] {
    const paths = files.paths();
    const installed = new Set(paths.filter(wantsInstalledPackageJson));
    const out: InstalledPackage[] = [];
    for (const path of paths) {
      if (!wantsLockfile(path)) continue;
      const bytes = files.get(path);
      if (!bytes) continue;
      const lockfile = parseLockfile(bytes, path);
      if (!lockfile) continue;
      const found = lockfilePackages(lockfile, path, (p) => installed.has(p));
      if (out.length + found.length > MAX_PACKAGES) throw tooManyPackages(path);
      out.push(...found);
    }
    return out;
  },
};
