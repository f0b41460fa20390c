// PEP 440 ordering and validity against tables produced by pip's vendored `packaging`.
import { describe, expect, it } from 'vitest';
import { pep440Versions } from './pep440.js';
import { versionSchemeSuite } from './test-tables.js';

versionSchemeSuite(pep440Versions, {
  reference: 'packaging.version.Version',
  compareTable: 'pep440-compare.tsv',
  validityTable: 'pep440-valid.tsv',
  minCompareRows: 1000,
  invalid: ['1.0-', 'abc', '1.0+', ''],
  validVersion: '1.0',
});

describe('pep440Versions rules', () => {
  it('follows the ordering summary of PEP 440', () => {
    const chain = [
      '1.0.dev456',
      '1.0a1',
      '1.0a2.dev456',
      '1.0a12.dev456',
      '1.0a12',
      '1.0b1.dev456',
      '1.0b2',
      '1.0b2.post345.dev456',
      '1.0b2.post345',
      '1.0rc1.dev456',
      '1.0rc1',
      '1.0',
      '1.0+abc.5',
      '1.0+abc.7',
      '1.0+5',
      '1.0.post456.dev34',
      '1.0.post456',
      '1.0.15',
      '1.1.dev1',
    ];
    for (let i = 1; i < chain.length; i++)
      expect(pep440Versions.compare(chain[i - 1]!, chain[i]!), `${chain[i - 1]} < ${chain[i]}`).toBeLessThan(
        0,
      );
  });

  it('treats alternate spellings as their normal form', () => {
    for (const [a, b] of [
      ['1.0-rc1', '1.0rc1'],
      ['1.0.post', '1.0.post0'],
      ['v1.0', '1.0'],
      ['1.0-1', '1.0.post1'],
      ['1.0alpha', '1.0a0'],
      ['1.0C1', '1.0rc1'],
      ['1.0.0', '1'],
      ['1.0+ABC-5', '1.0+abc.5'],
    ])
      expect(pep440Versions.compare(a!, b!), `${a} = ${b}`).toBe(0);
  });
});
