// OSV range evaluation: every event kind, the choices the specification leaves open, and real records
// from test/fixtures/osv.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apkVersions } from '../versions/apk.js';
import { dpkgVersions } from '../versions/dpkg.js';
import { pep440Versions } from '../versions/pep440.js';
import { semverVersions } from '../versions/semver.js';
import type { VersionScheme } from '../versions/version-scheme.js';
import { evaluateAffected, fixedVersionsOf, type OsvAffected, type OsvEvent } from './affected.js';

function range(type: string, ...events: OsvEvent[]): OsvAffected {
  return { ranges: [{ type, events }] };
}

const semver = (...events: OsvEvent[]): OsvAffected => range('SEMVER', ...events);
const ecosystem = (...events: OsvEvent[]): OsvAffected => range('ECOSYSTEM', ...events);

interface Case {
  readonly name: string;
  readonly affected: OsvAffected;
  readonly scheme?: VersionScheme;
  /** version -> expected evidence (a subset of the match), or null for "not affected". */
  readonly versions: Readonly<Record<string, Record<string, unknown> | null>>;
}

const CASES: readonly Case[] = [
  {
    name: 'introduced "0" alone: every version',
    affected: semver({ introduced: '0' }),
    versions: {
      '0.0.0': { via: 'range', rangeType: 'SEMVER', introduced: '0', fixedVersion: undefined },
      '0.0.0-alpha': { introduced: '0' },
      '99.0.0': { introduced: '0', fixed: undefined, lastAffected: undefined },
    },
  },
  {
    name: 'introduced "0" then fixed',
    affected: semver({ introduced: '0' }, { fixed: '1.0.2' }),
    versions: {
      '0.0.1': { introduced: '0', fixed: '1.0.2', fixedVersion: '1.0.2' },
      '1.0.2-rc.1': { fixed: '1.0.2' },
      '1.0.2': null,
      '2.0.0': null,
    },
  },
  {
    name: 'introduced is inclusive, fixed exclusive',
    affected: semver({ introduced: '1.0.0' }, { fixed: '1.0.2' }),
    versions: {
      '0.9.9': null,
      '1.0.0-rc.1': null,
      '1.0.0': { introduced: '1.0.0', fixed: '1.0.2' },
      '1.0.1': { introduced: '1.0.0' },
      '1.0.2': null,
    },
  },
  {
    name: 'several intervals in one range',
    affected: semver(
      { introduced: '1.0.0' },
      { fixed: '1.0.2' },
      { introduced: '3.0.0' },
      { fixed: '3.2.5' },
    ),
    versions: {
      '0.1.0': null,
      '1.0.1': { introduced: '1.0.0', fixed: '1.0.2' },
      '2.0.0': null,
      '3.0.0': { introduced: '3.0.0', fixed: '3.2.5', fixedVersion: '3.2.5' },
      '3.2.4': { introduced: '3.0.0', fixed: '3.2.5' },
      '3.2.5': null,
      '4.0.0': null,
    },
  },
  {
    name: 'last_affected is inclusive and resolves to no fixed version',
    affected: ecosystem({ introduced: '0' }, { last_affected: '2.1.214' }),
    scheme: pep440Versions,
    versions: {
      '1.0': { introduced: '0', lastAffected: '2.1.214', fixed: undefined, fixedVersion: undefined },
      '2.1.214': { lastAffected: '2.1.214' },
      '2.1.214.post1': null,
      '2.1.215': null,
    },
  },
  {
    name: 'last_affected then a later introduced',
    affected: ecosystem({ introduced: '1.0' }, { last_affected: '1.5' }, { introduced: '3.0' }),
    scheme: pep440Versions,
    versions: {
      '1.5': { introduced: '1.0', lastAffected: '1.5' },
      '2.0': null,
      '3.0': { introduced: '3.0', lastAffected: undefined },
    },
  },
  {
    name: 'a limit bounds the range from above',
    affected: semver({ introduced: '1.0.0' }, { limit: '2.0.0' }),
    versions: {
      '1.5.0': { introduced: '1.0.0', limit: '2.0.0', fixedVersion: undefined },
      '2.0.0': null,
      '0.5.0': null,
    },
  },
  {
    name: 'several limits: below any of them is enough, the lowest bounding one is reported',
    affected: semver({ limit: '3.0.0' }, { introduced: '1.0.0' }, { limit: '1.5.0' }),
    versions: {
      '1.2.0': { limit: '1.5.0' },
      '2.0.0': { limit: '3.0.0' },
      '3.0.0': null,
    },
  },
  {
    name: 'a "*" limit is infinity',
    affected: semver({ introduced: '1.0.0' }, { limit: '*' }),
    versions: { '99.0.0': { limit: '*' }, '0.1.0': null },
  },
  {
    name: 'limit and fixed together',
    affected: semver({ introduced: '0' }, { fixed: '2.0.0' }, { limit: '1.5.0' }),
    versions: { '1.0.0': { fixed: '2.0.0', limit: '1.5.0' }, '1.7.0': null },
  },
  {
    name: 'unsorted events are sorted by version first (GHSA style)',
    affected: semver({ introduced: '0' }, { introduced: '2.0.0' }, { fixed: '2.0.1' }, { fixed: '1.3.2' }),
    versions: {
      '1.3.1': { introduced: '0', fixed: '1.3.2' },
      '1.3.2': null,
      '1.9.9': null,
      '2.0.0': { introduced: '2.0.0', fixed: '2.0.1' },
      '2.0.1': null,
    },
  },
  {
    name: 'the introduced event that opened the interval is the evidence, not a later redundant one',
    affected: semver({ introduced: '2.0.0' }, { introduced: '1.0.0' }, { fixed: '3.0.0' }),
    versions: { '2.5.0': { introduced: '1.0.0', fixed: '3.0.0' } },
  },
  {
    name: 'events at equal versions keep record order: fixed then introduced continues the range',
    affected: semver({ introduced: '0' }, { fixed: '1.0.0' }, { introduced: '1.0.0' }, { fixed: '2.0.0' }),
    versions: { '1.0.0': { introduced: '1.0.0', fixed: '2.0.0' }, '1.5.0': { introduced: '1.0.0' } },
  },
  {
    name: 'events at equal versions keep record order: introduced then fixed is empty',
    affected: semver({ introduced: '1.0.0' }, { fixed: '1.0.0' }),
    versions: { '1.0.0': null, '1.5.0': null },
  },
  {
    name: 'scheme-equal spellings tie too (PEP 440 1.0 = 1.0.0)',
    affected: ecosystem({ introduced: '1.0' }, { fixed: '1.0.0' }),
    scheme: pep440Versions,
    versions: { '1.0': null },
  },
  {
    name: 'an invalid fixed event is skipped and reported, widening the range',
    affected: semver({ introduced: '0' }, { fixed: 'not-a-version' }),
    versions: {
      '5.0.0': { introduced: '0', fixed: undefined, skippedEvents: [{ fixed: 'not-a-version' }] },
    },
  },
  {
    name: 'an invalid introduced event is skipped: nothing opens the range',
    affected: semver({ introduced: '1.0' }, { fixed: '2.0.0' }),
    versions: { '1.5.0': null },
  },
  {
    name: 'an invalid limit is skipped; with no valid limit left the range is unbounded',
    affected: semver({ introduced: '1.0.0' }, { limit: 'x.y' }),
    versions: { '9.0.0': { limit: undefined, skippedEvents: [{ limit: 'x.y' }] } },
  },
  {
    name: 'events naming zero or several kinds, or non-objects, are skipped without throwing',
    affected: semver(
      { introduced: '0' },
      { introduced: '1.0.0', fixed: '1.0.1' },
      {},
      null as unknown as OsvEvent,
      { fixed: 7 } as unknown as OsvEvent,
      { fixed: '3.0.0' },
    ),
    versions: { '2.0.0': { introduced: '0', fixed: '3.0.0' }, '3.0.0': null },
  },
  {
    name: 'an installed version the scheme rejects is in no range',
    affected: semver({ introduced: '0' }),
    versions: { '1.0': null, 'v1.0.0': { introduced: '0' }, '': null },
  },
  {
    name: 'SEMVER ranges use SemVer even when the ecosystem scheme differs',
    affected: semver({ introduced: '1.0.0-alpha.2' }, { fixed: '1.0.0-alpha.10' }),
    scheme: dpkgVersions,
    versions: { '1.0.0-alpha.9': { rangeType: 'SEMVER' }, '1.0.0-alpha.10': null },
  },
  {
    name: 'ECOSYSTEM ranges need a scheme: without one they are skipped',
    affected: ecosystem({ introduced: '0' }),
    versions: { '1.0.0': null },
  },
  {
    name: 'ECOSYSTEM ranges use the scheme passed (dpkg)',
    affected: ecosystem({ introduced: '0' }, { fixed: '7.88.1-10+deb12u5' }),
    scheme: dpkgVersions,
    versions: {
      '7.88.1-10': { rangeType: 'ECOSYSTEM', fixedVersion: '7.88.1-10+deb12u5' },
      '7.88.1-10+deb12u4': { fixed: '7.88.1-10+deb12u5' },
      '7.88.1-10+deb12u12': null,
      '1:7.0': null,
    },
  },
  {
    name: 'GIT ranges are ignored',
    affected: {
      ranges: [
        {
          type: 'GIT',
          repo: 'https://example.test/r',
          events: [{ introduced: '0' }, { fixed: 'a'.repeat(40) }],
        },
      ],
    },
    scheme: semverVersions,
    versions: { '1.0.0': null },
  },
  {
    name: 'unknown range types are ignored',
    affected: range('FUTURE', { introduced: '0' }),
    scheme: semverVersions,
    versions: { '1.0.0': null },
  },
  {
    name: 'the first matching range is the evidence',
    affected: {
      ranges: [
        { type: 'SEMVER', events: [{ introduced: '2.0.0' }, { fixed: '2.1.0' }] },
        { type: 'SEMVER', events: [{ introduced: '1.0.0' }, { fixed: '1.1.0' }] },
        { type: 'SEMVER', events: [{ introduced: '0' }] },
      ],
    },
    versions: {
      '1.0.5': { rangeIndex: 1, fixedVersion: '1.1.0' },
      '2.0.5': { rangeIndex: 0, fixedVersion: '2.1.0' },
      '3.0.0': { rangeIndex: 2, fixedVersion: undefined },
    },
  },
  {
    name: 'exact versions match by string, even versions the scheme rejects',
    affected: { versions: ['1.0.0', 'garbage'] },
    scheme: semverVersions,
    versions: {
      '1.0.0': { via: 'versions', version: '1.0.0', fixedVersion: undefined },
      garbage: { via: 'versions', version: 'garbage' },
      'v1.0.0': null,
      '1.0.1': null,
    },
  },
  {
    name: 'a range match is preferred over the versions list; a versions match reports the next fix',
    affected: {
      versions: ['1.0.0', '2.0.5'],
      ranges: [
        { type: 'SEMVER', events: [{ introduced: '2.0.0' }, { fixed: '2.1.0' }] },
        { type: 'SEMVER', events: [{ introduced: '5.0.0' }, { fixed: '5.0.1' }, { fixed: '1.5.0' }] },
      ],
    },
    versions: {
      '2.0.5': { via: 'range', fixedVersion: '2.1.0' },
      '1.0.0': { via: 'versions', fixedVersion: '1.5.0' },
    },
  },
  {
    name: 'null ranges and versions (as some records have) are no match, not an error',
    affected: { ranges: null, versions: null },
    scheme: semverVersions,
    versions: { '1.0.0': null },
  },
  {
    name: 'malformed ranges do not throw',
    affected: {
      ranges: [
        null as unknown as never,
        'GIT' as unknown as never,
        { type: 'SEMVER', events: null as unknown as never },
        { type: 'SEMVER', events: [{ introduced: '0' }] },
      ],
    },
    versions: { '1.0.0': { rangeIndex: 3 } },
  },
];

describe('evaluateAffected', () => {
  for (const c of CASES) {
    describe(c.name, () => {
      for (const [version, expected] of Object.entries(c.versions)) {
        it(`${JSON.stringify(version)} ${expected === null ? 'is not affected' : 'is affected'}`, () => {
          const match = evaluateAffected(c.affected, version, c.scheme);
          if (expected === null) {
            expect(match).toBeUndefined();
            return;
          }
          expect(match).toBeDefined();
          for (const [key, value] of Object.entries(expected))
            expect((match as unknown as Record<string, unknown>)[key], key).toEqual(value);
        });
      }
    });
  }

  it('reports no skipped events for a clean range', () => {
    expect(evaluateAffected(semver({ introduced: '0' }), '1.0.0', undefined)).toMatchObject({
      skippedEvents: [],
    });
  });

  it('gives the same answers when one range object is evaluated under different schemes', () => {
    const affected = ecosystem({ introduced: '1.0' }, { fixed: '1.0.5' });
    expect(evaluateAffected(affected, '1.0.3', pep440Versions)).toBeDefined();
    expect(evaluateAffected(affected, '1.0.3', dpkgVersions)).toBeDefined();
    expect(evaluateAffected(affected, '1.0.5', pep440Versions)).toBeUndefined();
    // "1.0.5~rc1" is dpkg-only syntax, so the second preparation must have its own validation.
    expect(evaluateAffected(affected, '1.0.5~rc1', dpkgVersions)).toBeDefined();
    expect(evaluateAffected(affected, '1.0.5~rc1', pep440Versions)).toBeUndefined();
  });
});

describe('fixedVersionsOf', () => {
  it('lists fixed events of SEMVER and ECOSYSTEM ranges in record order, once each', () => {
    expect(
      fixedVersionsOf({
        ranges: [
          { type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '2.0.1' }, { fixed: '1.3.2' }] },
          { type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.3.2' }, { last_affected: '9' }] },
          { type: 'GIT', repo: 'r', events: [{ introduced: '0' }, { fixed: 'b'.repeat(40) }] },
        ],
      }),
    ).toEqual(['2.0.1', '1.3.2']);
  });

  it('is empty without ranges', () => {
    expect(fixedVersionsOf({ versions: ['1'] })).toEqual([]);
    expect(fixedVersionsOf({ ranges: null })).toEqual([]);
    expect(fixedVersionsOf({ ranges: [null as unknown as never] })).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Real records.

interface FixtureRecord {
  readonly affected: readonly OsvAffected[];
}

function fixture(name: string): FixtureRecord {
  const url = new URL(`../../../test/fixtures/osv/${name}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as FixtureRecord;
}

function firstAffected(name: string): OsvAffected {
  return fixture(name).affected[0]!;
}

describe('evaluateAffected on real OSV records', () => {
  it('ghsa equals_with_patch (npm mixin-deep, unsorted SEMVER events)', () => {
    const a = firstAffected('ghsa--equals_with_patch.osv.json');
    expect(evaluateAffected(a, '1.3.1', semverVersions)).toMatchObject({
      introduced: '0',
      fixedVersion: '1.3.2',
    });
    expect(evaluateAffected(a, '1.3.2', semverVersions)).toBeUndefined();
    expect(evaluateAffected(a, '2.0.0', semverVersions)).toMatchObject({
      introduced: '2.0.0',
      fixedVersion: '2.0.1',
    });
    expect(evaluateAffected(a, '2.0.1', semverVersions)).toBeUndefined();
    expect(fixedVersionsOf(a)).toEqual(['2.0.1', '1.3.2']);
  });

  it('ghsa npm_greater_than (jquery, pre-release introduced)', () => {
    const a = firstAffected('ghsa--npm_greater_than.osv.json');
    expect(evaluateAffected(a, '2.1.0', semverVersions)).toBeUndefined();
    expect(evaluateAffected(a, '2.1.1-0', semverVersions)).toMatchObject({ introduced: '2.1.1-0' });
    expect(evaluateAffected(a, '2.2.4', semverVersions)).toMatchObject({ fixedVersion: '3.0.0' });
    expect(evaluateAffected(a, '3.0.0-rc1', semverVersions)).toMatchObject({ fixedVersion: '3.0.0' });
    expect(evaluateAffected(a, '3.0.0', semverVersions)).toBeUndefined();
  });

  it('ghsa less_than_equals_with_patch and the open-ended ones (npm)', () => {
    const withPatch = firstAffected('ghsa--less_than_equals_with_patch.osv.json');
    expect(evaluateAffected(withPatch, '1.10.2', semverVersions)).toMatchObject({ fixedVersion: '1.10.3' });
    expect(evaluateAffected(withPatch, '1.10.3', semverVersions)).toBeUndefined();
    const noPatch = firstAffected('ghsa--greater_than_equals_no_patch.osv.json');
    expect(evaluateAffected(noPatch, '0.0.0', semverVersions)).toMatchObject({ introduced: '0.0.0' });
    expect(evaluateAffected(noPatch, '9.9.9', semverVersions)?.fixedVersion).toBeUndefined();
    const zero = firstAffected('ghsa--less_than_equals_no_patch.osv.json');
    expect(evaluateAffected(zero, '1.0.0', semverVersions)).toMatchObject({ introduced: '0' });
  });

  it('ghsa pypi_normalize (PyPI ECOSYSTEM range ordered by PEP 440)', () => {
    const a = firstAffected('ghsa--pypi_normalize.osv.json');
    expect(evaluateAffected(a, '2.6.0', pep440Versions)).toMatchObject({ fixedVersion: '2.6.1' });
    expect(evaluateAffected(a, '2.6.1rc1', pep440Versions)).toMatchObject({ fixedVersion: '2.6.1' });
    expect(evaluateAffected(a, '2.6.1', pep440Versions)).toBeUndefined();
    expect(evaluateAffected(a, '2.6.1.post1', pep440Versions)).toBeUndefined();
    expect(evaluateAffected(a, '2.6.0', undefined)).toBeUndefined();
  });

  it('PYSEC-2023-74 (requests: GIT range ignored, ECOSYSTEM range and versions list)', () => {
    const a = firstAffected('osv-linter--PYSEC-2023-74.json');
    expect(evaluateAffected(a, '2.30.0', pep440Versions)).toMatchObject({
      via: 'range',
      rangeIndex: 1,
      introduced: '2.3.0',
      fixedVersion: '2.31.0',
    });
    expect(evaluateAffected(a, '2.31.0', pep440Versions)).toBeUndefined();
    expect(evaluateAffected(a, '2.2.1', pep440Versions)).toBeUndefined();
    // Without a scheme only the exact list can match.
    expect(evaluateAffected(a, '2.30.0', undefined)).toMatchObject({ via: 'versions', version: '2.30.0' });
    expect(fixedVersionsOf(a)).toEqual(['2.31.0']);
  });

  it('GHSA-9v2f-6vcg-3hgv (versions only, one of them not PEP 440)', () => {
    const a = firstAffected('osv-linter--GHSA-9v2f-6vcg-3hgv.json');
    expect(evaluateAffected(a, '4.36.1', pep440Versions)).toMatchObject({ via: 'versions' });
    expect(evaluateAffected(a, '4.36.-1', pep440Versions)).toMatchObject({
      via: 'versions',
      version: '4.36.-1',
    });
    expect(evaluateAffected(a, '4.36.2', pep440Versions)).toBeUndefined();
  });

  it('GO-2020-0001 (Go SEMVER range, installed versions with a leading v)', () => {
    const a = firstAffected('osv-linter--GO-2020-0001.json');
    expect(evaluateAffected(a, 'v1.5.0', undefined)).toMatchObject({
      rangeType: 'SEMVER',
      fixedVersion: '1.6.0',
    });
    expect(evaluateAffected(a, 'v1.6.0', undefined)).toBeUndefined();
  });

  it('CVE-2018-5407 (Alpine openssl per release, plus a GIT range)', () => {
    const record = fixture('osv-linter--CVE-2018-5407.json');
    const alpine = record.affected.filter((a) => a.package?.ecosystem.startsWith('Alpine'));
    expect(alpine).toHaveLength(6);
    for (const a of alpine) {
      expect(evaluateAffected(a, '1.0.2p-r0', apkVersions)).toMatchObject({ fixedVersion: '1.0.2q-r0' });
      expect(evaluateAffected(a, '1.0.2q-r0', apkVersions)).toBeUndefined();
      expect(evaluateAffected(a, '1.1.1-r0', apkVersions)).toBeUndefined();
    }
    const git = record.affected.find((a) => !a.package)!;
    expect(evaluateAffected(git, '1.0.0', semverVersions)).toBeUndefined();
  });

  it('ghsa withdrawn (RubyGems: no scheme here, so no range match)', () => {
    const a = firstAffected('ghsa--withdrawn.osv.json');
    expect(evaluateAffected(a, '4.1.0', undefined)).toBeUndefined();
    expect(fixedVersionsOf(a)).toEqual(['3.2.22', '4.2.2', '4.1.11']);
  });
});
