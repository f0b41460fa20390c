// The canonical form must be RFC 8785's byte for byte, or every chain hash changes meaning:
// checked against the RFC's own examples and, on random values, against the canonicalize package.
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { canonicalJson, CanonicalJsonError, withCanonicalText } from './canonical-json.js';

describe('canonicalJson (RFC 8785)', () => {
  it('serialises the RFC 3.2.2 example (numbers, string escapes, literals) as the RFC does', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    ) as unknown;
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts keys by UTF-16 code units (the RFC 3.2.3 example)', () => {
    const input = JSON.parse(
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh",' +
        '"1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
    ) as Record<string, string>;
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('matches the canonicalize package on random values', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const alphabet = [
      'a',
      'Z',
      '0',
      ' ',
      '"',
      '\\',
      '\n',
      '\u0001',
      '\u007f',
      'é',
      '€',
      '😀',
      '\ufb33',
      '\u2028',
    ];
    const string = () =>
      Array.from(
        { length: Math.floor(random() * 8) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join('');
    const number = () => {
      const pick = random();
      if (pick < 0.2) return Math.floor(random() * 1e6) - 5e5;
      if (pick < 0.4) return (random() - 0.5) * 10 ** Math.floor(random() * 60 - 30);
      if (pick < 0.5) return -0;
      return random() * 1e21;
    };
    const value = (depth: number): unknown => {
      const pick = random();
      if (depth > 4 || pick < 0.3) return [null, true, false, string(), number()][Math.floor(random() * 5)];
      if (pick < 0.6) return Array.from({ length: Math.floor(random() * 5) }, () => value(depth + 1));
      const object: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 6); i > 0; i -= 1) object[string()] = value(depth + 1);
      if (random() < 0.2) object.skipped = undefined;
      return object;
    };
    for (let i = 0; i < 2000; i += 1) {
      const v = value(0);
      expect(canonicalJson(v)).toBe(canonicalize(v));
    }
    // toJSON is honoured; in arrays, what has no JSON form is null (as JSON.stringify does it).
    const withDate = { when: new Date(0), list: [undefined, () => 1] };
    expect(canonicalJson(withDate)).toBe('{"list":[null,null],"when":"1970-01-01T00:00:00.000Z"}');
  });

  it('refuses what JSON cannot hold, with a clear error', () => {
    for (const bad of [NaN, Infinity, { a: -Infinity }, 'x\ud800', { '\udc00': 1 }, 10n, undefined]) {
      expect(() => canonicalJson(bad)).toThrow(CanonicalJsonError);
    }
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => canonicalJson(circular)).toThrow(/nested too deeply \(or circular\)/);
  });
});

describe('withCanonicalText', () => {
  it('writes a remembered object as its text, alone and nested, and freezes it deeply', () => {
    const actor = withCanonicalText({ subject: 'u', act: { amr: ['hwk', 'mfa'], iss: 'https://idp' } });
    const event = { data: { actor, z: 1 }, a: [actor] };
    expect(canonicalJson(event)).toBe(canonicalize(JSON.parse(JSON.stringify(event))));
    expect(canonicalJson(actor)).toBe('{"act":{"amr":["hwk","mfa"],"iss":"https://idp"},"subject":"u"}');
    // Frozen all the way down, so the remembered text cannot go stale.
    expect(() => {
      actor.act.amr.push('pwd');
    }).toThrow(TypeError);
    expect(() => {
      (actor as { subject: string }).subject = 'v';
    }).toThrow(TypeError);
    // The text is no member of its own: JSON and key listings see the object as it was.
    expect(Object.keys(actor)).toEqual(['subject', 'act']);
    expect(JSON.stringify(actor)).toBe('{"subject":"u","act":{"amr":["hwk","mfa"],"iss":"https://idp"}}');
  });

  it('copies an object that was frozen already, and still checks what it is given', () => {
    const frozen = Object.freeze({ b: 2, a: 1 });
    const remembered = withCanonicalText(frozen);
    expect(remembered).not.toBe(frozen);
    expect(canonicalJson({ x: remembered })).toBe('{"x":{"a":1,"b":2}}');
    expect(withCanonicalText(remembered)).toBe(remembered);
    expect(() => withCanonicalText({ bad: NaN })).toThrow(CanonicalJsonError);
  });
});
