// Which distribution an image is, from os-release(5): it namespaces the apk and deb purls and
// picks the vulnerability feed. The file is shell-like KEY=value lines; it is parsed, never run,
// and lines that do not parse are ignored, as systemd does.
import type { Cataloger, FileSet } from './cataloger.js';
import { decodeUtf8, isSafeToken, safeText } from './database-text.js';
import type { Distro } from './package.js';

/** Where os-release lives, in the order the specification says to look. */
export const OS_RELEASE_PATHS: readonly string[] = ['etc/os-release', 'usr/lib/os-release'];

const MAX_LINES = 1000;
const DISTRO_ID = /^[a-z0-9._-]{1,64}$/;

/**
 * Parses os-release content. `path` only names the file in the invalid-utf8 error. Without a
 * usable ID the distribution is `linux`, the specification's default.
 */
export function parseOsRelease(content: Buffer, path = OS_RELEASE_PATHS[0]!): Distro {
  const values = parseAssignments(decodeUtf8(content, path));
  const id = values.get('ID');
  const distro: Distro = {
    id: id !== undefined && DISTRO_ID.test(id) ? id : 'linux',
    idLike: (values.get('ID_LIKE') ?? '').split(/\s+/).filter((like) => DISTRO_ID.test(like)),
  };
  const versionId = values.get('VERSION_ID');
  if (versionId !== undefined && isSafeToken(versionId) && versionId.length <= 64)
    distro.versionId = versionId;
  const codename = values.get('VERSION_CODENAME');
  if (codename !== undefined && isSafeToken(codename) && codename.length <= 64) distro.codename = codename;
  const prettyName = safeText(values.get('PRETTY_NAME'));
  if (prettyName) distro.prettyName = prettyName.slice(0, 256);
  return distro;
}

/** KEY=value assignments; the first assignment of a key wins, later ones are ignored. */
function parseAssignments(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const rawLine of text.split('\n').slice(0, MAX_LINES)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq) : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || values.has(key)) continue;
    const value = shellWord(line.slice(eq + 1));
    if (value !== undefined) values.set(key, value);
  }
  return values;
}

/**
 * One shell word: unquoted text with backslash escapes, '…' literal, "…" with \\ \" \$ \` escapes.
 * Undefined for an unterminated quote or a second word (neither is a valid assignment).
 */
export function shellWord(raw: string): string | undefined {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === "'") {
      const close = raw.indexOf("'", i + 1);
      if (close < 0) return undefined;
      out += raw.slice(i + 1, close);
      i = close + 1;
    } else if (c === '"') {
      const read = readDoubleQuoted(raw, i + 1);
      if (!read) return undefined;
      out += read.text;
      i = read.next;
    } else if (c === '\\') {
      out += raw[i + 1] ?? '';
      i += 2;
    } else if (c === ' ' || c === '\t') {
      const rest = raw.slice(i).trim();
      return rest === '' || rest.startsWith('#') ? out : undefined;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function readDoubleQuoted(raw: string, start: number): { text: string; next: number } | undefined {
  let text = '';
  for (let i = start; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '"') return { text, next: i + 1 };
    if (c === '\\' && i + 1 < raw.length && '\\"$`'.includes(raw[i + 1]!)) {
      text += raw[++i]!;
    } else {
      text += c;
    }
  }
  return undefined;
}

/** The distribution of the image: the first os-release candidate present, if any. */
export function readDistro(files: FileSet): Distro | undefined {
  for (const path of OS_RELEASE_PATHS) {
    const content = files.get(path);
    if (content) return parseOsRelease(content, path);
  }
  return undefined;
}

/**
 * Catalogs nothing; it exists so that the layer walker, which keeps only files some cataloger
 * wants, keeps os-release for catalogImage to read the distribution from.
 */
export const osReleaseCataloger: Cataloger = {
  name: 'os-release',
  maxFileBytes: 64 * 1024,
  wants: (path) => OS_RELEASE_PATHS.includes(path),
  catalog: () => [],
};
