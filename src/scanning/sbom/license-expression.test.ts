// SPDX license expressions: what counts as valid, how it is normalised, and the LicenseRef ids
// that stand in for declared licences that are not expressions.
import { describe, expect, it } from 'vitest';
import {
  isSingleLicenseId,
  licenseRefFor,
  normaliseSpdxExpression,
  splitTopLevelAnd,
} from './license-expression.js';

describe('normaliseSpdxExpression', () => {
  it('accepts listed identifiers, case-insensitively, and compound expressions', () => {
    expect(normaliseSpdxExpression('MIT')).toBe('MIT');
    expect(normaliseSpdxExpression('mit')).toBe('MIT');
    expect(normaliseSpdxExpression('apache-2.0')).toBe('Apache-2.0');
    expect(normaliseSpdxExpression('GPL-2.0-or-later')).toBe('GPL-2.0-or-later');
    expect(normaliseSpdxExpression('GPL-2.0+')).toBe('GPL-2.0+');
    expect(normaliseSpdxExpression('LGPL-2.1+')).toBe('LGPL-2.1+');
    expect(normaliseSpdxExpression('(MIT OR Apache-2.0)')).toBe('MIT OR Apache-2.0');
    expect(normaliseSpdxExpression('MPL-2.0 AND MIT')).toBe('MPL-2.0 AND MIT');
    expect(normaliseSpdxExpression('MIT or Apache-2.0')).toBe('MIT OR Apache-2.0');
    expect(normaliseSpdxExpression('GPL-2.0-only WITH Classpath-exception-2.0')).toBe(
      'GPL-2.0-only WITH Classpath-exception-2.0',
    );
    expect(normaliseSpdxExpression('(MIT OR BSD-2-Clause) AND (Zlib)')).toBe(
      '(MIT OR BSD-2-Clause) AND Zlib',
    );
    expect(normaliseSpdxExpression('LicenseRef-Proprietary AND MIT')).toBe('LicenseRef-Proprietary AND MIT');
  });

  it('rejects what is not an expression', () => {
    for (const text of [
      '',
      'MIT BSD GPL2+',
      'GPL2+',
      'Apache 2.0',
      'BSD',
      'SEE LICENSE IN LICENSE.md',
      'MIT AND',
      '(MIT',
      'MIT)',
      'MIT WITH Apache-2.0',
      'LicenseRef-x WITH Classpath-exception-2.0',
      'MIT Or Apache-2.0',
      `${'('.repeat(40)}MIT${')'.repeat(40)}`,
      'MIT AND '.repeat(200) + 'MIT',
    ]) {
      expect(normaliseSpdxExpression(text), text).toBeUndefined();
    }
  });
});

describe('splitTopLevelAnd', () => {
  it('splits conjunctions only at the top level', () => {
    expect(splitTopLevelAnd('MIT AND (BSD-2-Clause OR Zlib) AND LicenseRef-x')).toEqual([
      'MIT',
      'BSD-2-Clause OR Zlib',
      'LicenseRef-x',
    ]);
    expect(splitTopLevelAnd('MIT OR Zlib')).toEqual(['MIT OR Zlib']);
    expect(splitTopLevelAnd('not an expression')).toEqual(['not an expression']);
  });
});

describe('licenseRefFor', () => {
  it('keeps readable ids readable and tells sanitised texts apart', () => {
    expect(licenseRefFor('GPL2')).toBe('LicenseRef-GPL2');
    const a = licenseRefFor('MIT BSD GPL2+');
    expect(a).toMatch(/^LicenseRef-MIT-BSD-GPL2-[0-9a-f]{8}$/);
    expect(licenseRefFor('MIT BSD GPL2-')).not.toBe(a);
    expect(licenseRefFor('版权所有')).toMatch(/^LicenseRef-[0-9a-f]{8}$/);
  });

  it('knows single identifiers', () => {
    expect(isSingleLicenseId('MIT')).toBe(true);
    expect(isSingleLicenseId('MIT OR Zlib')).toBe(false);
    expect(isSingleLicenseId('GPL-2.0-only+')).toBe(false);
  });
});
