// Patterns in trust policies are regular expressions written by organization owners and matched
// against strings chosen by whoever presents a token — the classic setting for catastrophic
// backtracking. They run on RE2 (re2js: linear time, no backreferences or lookarounds), are
// always anchored as ^(?:…)$, and are bounded in length; the inputs are bounded too.
import { RE2JS } from 're2js';

export const MAX_PATTERN_LENGTH = 256;

export class PatternError extends Error {}

export interface Pattern {
  /** The pattern as written. */
  source: string;
  /** As it is matched, e.g. ^(?:repo:acme/app:.*)$ — what error messages show. */
  anchored: string;
  matches(value: string): boolean;
}

const cache = new Map<string, Pattern>();

/** Compiles a pattern (cached); throws PatternError with a reason safe to show. */
export function compilePattern(source: string): Pattern {
  const cached = cache.get(source);
  if (cached) return cached;
  if (source.length === 0) throw new PatternError('is empty');
  if (source.length > MAX_PATTERN_LENGTH)
    throw new PatternError(`is longer than ${MAX_PATTERN_LENGTH} characters`);
  const anchored = `^(?:${source})$`;
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(anchored);
  } catch (error) {
    throw new PatternError(
      `is not a valid pattern (${(error as Error).message.replace(/^error parsing regexp: /, '')})`,
    );
  }
  const pattern: Pattern = { source, anchored, matches: (value) => compiled.matches(value) };
  if (cache.size > 10_000) cache.clear();
  cache.set(source, pattern);
  return pattern;
}

/** A pattern matching exactly `value` (for presets built from names). */
export function literal(value: string): string {
  return value.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
