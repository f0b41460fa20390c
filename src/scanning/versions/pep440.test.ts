// PEP 440 ordering and validity against tables produced by pip's vendored `packaging`.
import { describe, expect, it } from 'vitest';
import { pep440Versions } from './pep440.js';
import {
  expectCompareTable,
  expectConsistentSort,
  expectInvalidThrow,
  expectValidityTable,
  readCompareTable,
  readValidityTable,
} from './test-tables.js';

const compareRows = readCompareTable('pep440-compare.tsv');
const validityRows = readValidityTable('pep440-valid.tsv');

describe('pep440Versions against packaging', () => {
  it('has a large reference table', () => {
    expect(compareRows.length).toBeGreaterThanOrEqual(1000);
  });

  it('agrees with packaging.version.Version on every pair, both ways round', () => {
    expectCompareTable(pep440Versions, 'pep440-compare.tsv', compareRows);
  });

  it('sorts the table versions consistently', () => {
    expectConsistentSort(pep440Versions, compareRows);
  });

  it('accepts and rejects what packaging accepts and rejects', () => {
    expectValidityTable(pep440Versions, 'pep440-valid.tsv', validityRows);
  });
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

  it('throws InvalidVersionError for invalid versions', () => {
    expectInvalidThrow(pep440Versions, ['1.0-', 'abc', '1.0+', ''], '1.0');
  });
});
