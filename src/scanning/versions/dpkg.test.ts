// dpkg ordering and validity against tables produced by `dpkg --compare-versions`, plus the cases
// where we are deliberately stricter than dpkg.
import { describe, expect, it } from 'vitest';
import { dpkgVersions } from './dpkg.js';
import { versionSchemeSuite } from './test-tables.js';

versionSchemeSuite(dpkgVersions, {
  reference: 'dpkg --compare-versions',
  compareTable: 'dpkg-compare.tsv',
  // What dpkg only warns about counts as a rejection in this table.
  validityTable: 'dpkg-valid.tsv',
  minCompareRows: 1000,
  invalid: ['a1', '1.0-', '1:', ''],
  validVersion: '1.0',
});

describe('dpkgVersions rules', () => {
  it.each([
    ['1.0~rc1', '1.0', -1],
    ['1.0~~', '1.0~', -1],
    ['1.0', '1.0a', -1],
    ['1.0a', '1.0+', -1],
    ['1.0', '1.0-0', 0],
    ['0:1.0', '1.0', 0],
    ['1:0.1', '9.9', 1],
    ['1.0-1', '1.0-1ubuntu1', -1],
    ['7.88.1-10+deb12u5', '7.88.1-10+deb12u12', -1],
    ['1.00000000000000000000001', '1.1', 0],
    ['123456789012345678901234567890', '123456789012345678901234567891', -1],
    ['1.0-99999999999999999999', '1.0-100000000000000000000', -1],
  ] as const)('compare(%s, %s) = %i', (a, b, expected) => {
    expect(Math.sign(dpkgVersions.compare(a, b))).toBe(expected);
  });

  it('is stricter than dpkg where dpkg only trims or uses strtol', () => {
    // dpkg trims surrounding whitespace and lets strtol read "+1" as epoch 1; we reject both.
    for (const v of [' 1.0', '1.0 ', '\t1.0', '+1:2', '', '-1', '-1.0'])
      expect(dpkgVersions.isValid(v), JSON.stringify(v)).toBe(false);
  });

  it('keeps epochs within dpkg int range', () => {
    expect(dpkgVersions.isValid('2147483647:1')).toBe(true);
    expect(dpkgVersions.isValid('0002147483647:1')).toBe(true);
    expect(dpkgVersions.isValid('2147483648:1')).toBe(false);
  });
});
