// SemVer precedence and validity against tables produced by the npm semver package (strict mode),
// plus the documented differences from npm.
import { describe, expect, it } from 'vitest';
import { semverVersions } from './semver.js';
import { versionSchemeSuite } from './test-tables.js';

versionSchemeSuite(semverVersions, {
  reference: 'npm semver (strict)',
  compareTable: 'semver-compare.tsv',
  validityTable: 'semver-valid.tsv',
  minCompareRows: 1000,
  invalid: ['1.0', '1.0.0-01', '0', ''],
  validVersion: '1.0.0',
});

describe('semverVersions rules', () => {
  it('follows the precedence example of semver.org section 11', () => {
    const chain = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
    ];
    for (let i = 1; i < chain.length; i++)
      expect(semverVersions.compare(chain[i - 1]!, chain[i]!)).toBeLessThan(0);
  });

  it('ignores build metadata and a leading v', () => {
    expect(semverVersions.compare('1.0.0+a', '1.0.0+b')).toBe(0);
    expect(semverVersions.compare('v1.2.3', '1.2.3')).toBe(0);
  });

  it('takes numbers of any size, unlike npm', () => {
    expect(semverVersions.isValid('99999999999999999999.0.0')).toBe(true);
    expect(semverVersions.compare('99999999999999999999.0.0', '100000000000000000000.0.0')).toBeLessThan(0);
    expect(semverVersions.compare('1.0.0-99999999999999999998', '1.0.0-99999999999999999999')).toBeLessThan(
      0,
    );
  });

  it('rejects the surrounding whitespace npm trims, and "=" or "V" prefixes', () => {
    for (const v of [' 1.0.0', '1.0.0 ', '=1.0.0', 'V1.0.0', 'v'])
      expect(semverVersions.isValid(v), JSON.stringify(v)).toBe(false);
  });
});
