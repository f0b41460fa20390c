// apk ordering and validity against the table converted from apk-tools' own test data (apk-tools is
// not installable here), plus hand-worked cases marked as such in the table.
import { describe, expect, it } from 'vitest';
import { apkVersions } from './apk.js';
import { versionSchemeSuite } from './test-tables.js';

versionSchemeSuite(apkVersions, {
  reference: 'apk-tools test data',
  compareTable: 'apk-compare.tsv',
  validityTable: 'apk-valid.tsv',
  minCompareRows: 700,
  minRowsSource: 'upstream',
  invalid: ['1.0bc', '23_foo', '', 'v1.0'],
  validVersion: '1.0',
});

describe('apkVersions rules', () => {
  it('orders real Alpine fixes', () => {
    expect(apkVersions.compare('1.0.2p-r0', '1.0.2q-r0')).toBeLessThan(0);
    expect(apkVersions.compare('1.0.2q-r0', '1.0.2q-r0')).toBe(0);
    expect(apkVersions.compare('3.0.12-r4', '3.0.13-r0')).toBeLessThan(0);
    expect(apkVersions.compare('2.3.3-r2', '2.3.3-r10')).toBeLessThan(0);
  });

  it('compares numbers beyond 64 bits by value (apk-tools would wrap around)', () => {
    expect(apkVersions.compare('1.18446744073709551616', '1.18446744073709551615')).toBeGreaterThan(0);
  });
});
