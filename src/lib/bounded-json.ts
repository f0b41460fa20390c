// JSON parsing with a nesting limit. Untrusted documents (manifests, API bodies) are checked for
// depth before JSON.parse so a deeply nested payload cannot exhaust the stack.

export const DEFAULT_MAX_JSON_DEPTH = 64;

export class JsonTooDeepError extends Error {
  constructor(readonly maxDepth: number) {
    super(`JSON nesting deeper than ${maxDepth} levels`);
  }
}

/** Parses JSON text; throws SyntaxError when invalid and JsonTooDeepError when too deep. */
export function parseBoundedJson(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) throw new JsonTooDeepError(maxDepth);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return JSON.parse(text) as unknown;
}
