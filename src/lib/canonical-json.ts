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

/** Where withCanonicalText keeps an object's text (a symbol: no JSON form, no key of its own). */
const TEXT = Symbol('canonical JSON text');

/**
 * Freezes `value`, deeply, and remembers its canonical text, so that writing it again — alone
 * or inside another value — costs one property read. For objects written into many events (who
 * acted: the same caller's claims in every event of a pull burst). Frozen, so the text cannot go
 * stale: a later change throws instead.
 */
export function withCanonicalText<T extends object>(value: T): T {
  if ((value as { [TEXT]?: string })[TEXT] !== undefined) return value;
  const text = canonicalJson(value);
  // An object frozen already takes no new property: a frozen copy carries the text instead.
  const target: T = Object.isExtensible(value)
    ? value
    : (Object.create(
        Object.getPrototypeOf(value) as object | null,
        Object.getOwnPropertyDescriptors(value),
      ) as T);
  Object.defineProperty(target, TEXT, { value: text, enumerable: false });
  deepFreeze(target);
  return target;
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  for (const member of Object.values(value)) deepFreeze(member);
  Object.freeze(value);
}

/** The canonical JSON text of `value`; throws CanonicalJsonError for what JSON cannot hold. */
export function canonicalJson(value: unknown): string {
  const text = write(value, 0);
  if (text === undefined) throw new CanonicalJsonError(`a ${typeof value} has no JSON form`);
  return text;
}

/** A string's canonical JSON text (quoted and escaped); throws for a lone surrogate. */
export function canonicalString(value: string): string {
  if (!value.isWellFormed()) throw new CanonicalJsonError('a string holds a lone surrogate');
  return JSON.stringify(value);
}

function write(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return canonicalString(value);
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
  const known = (value as { [TEXT]?: string })[TEXT];
  if (known !== undefined) return known;
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
