// RFC 8785 (JSON Canonicalization Scheme). The audit chain hashes every event in this form, on
// the path of every change, so it is written for speed: one string built by concatenation, keys
// sorted by UTF-16 code units (what Array.prototype.sort does to strings), strings and numbers
// serialised by JSON.stringify, which RFC 8785 adopts from ECMAScript for both. The test checks
// it against the canonicalize package and the RFC's examples.

/** Deeper than this is refused (and catches a cycle without a set of seen objects). */
const MAX_DEPTH = 200;

export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

/** The canonical JSON text of `value`; throws CanonicalJsonError for what JSON cannot hold. */
export function canonicalJson(value: unknown): string {
  const text = write(value, 0);
  if (text === undefined) throw new CanonicalJsonError(`a ${typeof value} has no JSON form`);
  return text;
}

function write(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new CanonicalJsonError('a string holds a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    case 'bigint':
      throw new CanonicalJsonError('a bigint is not a JSON number');
    default:
      return undefined; // undefined, functions and symbols: skipped as members, null in arrays
  }
  if (value === null) return 'null';
  if (depth >= MAX_DEPTH) throw new CanonicalJsonError('nested too deeply (or circular)');
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return write(toJSON.call(value) as unknown, depth + 1);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i += 1) {
      if (i > 0) out += ',';
      out += write(value[i], depth + 1) ?? 'null';
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const member = write(record[key], depth + 1);
    if (member === undefined) continue;
    if (!key.isWellFormed()) throw new CanonicalJsonError('a key holds a lone surrogate');
    out += first ? JSON.stringify(key) : `,${JSON.stringify(key)}`;
    out += `:${member}`;
    first = false;
  }
  return `${out}}`;
}
