// Severity selection and CVSS scoring. Every expected score below names where it was published;
// none was produced by the code under test.
import { readFileSync } from 'node:fs';
import cvss from 'ae-cvss-calculator';
import { describe, expect, it } from 'vitest';
import { parseOsvRecord, type OsvRecord } from './osv-record.js';
import {
  compareRatings,
  compareSeverities,
  cvssBaseScore,
  meetsThreshold,
  parseRating,
  ratingOfScore,
  ratingOrder,
  severityOf,
  type Rating,
  type Severity,
} from './severity.js';

function fixture(name: string): OsvRecord {
  const url = new URL(`../../../test/fixtures/osv/${name}`, import.meta.url);
  return parseOsvRecord(JSON.parse(readFileSync(url, 'utf8')));
}

function record(extra: Record<string, unknown> = {}): OsvRecord {
  return parseOsvRecord({ id: 'GHSA-aaaa-bbbb-cccc', modified: '2024-05-01T10:00:00Z', ...extra });
}

const pkg = { ecosystem: 'npm', name: 'left-pad' };
const V3_CRITICAL = 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H'; // 10.0
const V3_HIGH = 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N'; // 7.5
const V4_MEDIUM = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N'; // 5.1
const V2_HIGH = 'AV:N/AC:M/Au:N/C:C/I:C/A:C'; // 9.3

describe('cvssBaseScore against published scores', () => {
  // NVD base scores (nvd.nist.gov/vuln/detail/<CVE>) and FIRST's CVSS v3.0/v3.1 Examples documents.
  it.each([
    ['CVSS_V3', V3_CRITICAL, 10.0, 'CVE-2021-44228 (Log4Shell), NVD'],
    ['CVSS_V3', V3_HIGH, 7.5, 'CVE-2014-0160 (Heartbleed), NVD and FIRST v3.1 Examples'],
    ['CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1, 'CVE-2013-1937, FIRST v3.1 Examples'],
    ['CVSS_V3', 'CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1, 'CVE-2013-1937, FIRST v3.0 Examples'],
    ['CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8, 'CVE-2024-39236, NVD (GHSA fixture)'],
    ['CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H', 7.5, 'CVE-2023-45288, NVD (RHSA fixture)'],
    ['CVSS_V3', 'CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N', 4.7, 'CVE-2018-5407, NVD (linter fixture)'],
    ['CVSS_V2', V2_HIGH, 9.3, 'CVE-2021-44228, NVD v2'],
    ['CVSS_V2', 'AV:N/AC:L/Au:N/C:P/I:N/A:N', 5.0, 'CVE-2014-0160, NVD v2'],
  ] as const)('%s %s = %s (%s)', (type, vector, expected, _source) => {
    expect(cvssBaseScore(type, vector)).toBe(expected);
  });

  // CVSS-B scores from RedHatProductSecurity/cvss tests/vectors_simple4 (commit 99d0193); FIRST's
  // cvss-resources README names that Red Hat library as the origin of the official calculator.
  it.each([
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:H/VA:L/SC:N/SI:H/SA:L', 9.2],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:H/SI:N/SA:L', 7.8],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', 8.6],
    [V4_MEDIUM, 5.1],
    ['CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:A/VC:N/VI:L/VA:L/SC:L/SI:N/SA:N', 1.8],
    ['CVSS:4.0/AV:N/AC:H/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:L/SA:N', 9.5],
    ['CVSS:4.0/AV:N/AC:H/AT:N/PR:L/UI:A/VC:L/VI:L/VA:L/SC:H/SI:H/SA:H', 5.2],
  ] as const)('CVSS_V4 %s = %s', (vector, expected) => {
    expect(cvssBaseScore('CVSS_V4', vector)).toBe(expected);
  });

  it('scores CVSS 4.0 as CVSS-B, ignoring threat and environmental metrics', () => {
    // FIRST cvss-resources vectorFiles/reference-scores: this CVSS-BTE vector scores 9.1; its base
    // metrics alone are the maximum, 10.
    const bte = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:U/CR:H/IR:H/AR:H';
    expect(new cvss.Cvss4P0(bte).calculateScores().overall).toBe(9.1);
    expect(cvssBaseScore('CVSS_V4', bte)).toBe(10);
  });

  // The library's full CVSS 4.0 scoring (macrovectors, threat, environmental) against FIRST's own
  // validation set: FIRSTdotorg/cvss-resources vectorFiles/reference-scores.
  it.each([
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:P/CR:H/IR:H/AR:H/MSI:S/MSA:S', 9.8],
    ['CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L/E:U/CR:M/IR:M/AR:M', 6.8],
    ['CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:H/SC:L/SI:L/SA:L/E:U/CR:M/IR:H/AR:M', 3],
    ['CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:L/VI:L/VA:L/SC:L/SI:L/SA:L/E:U/CR:H/IR:H/AR:H', 1.7],
    ['CVSS:4.0/AV:A/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:U/CR:H/IR:H/AR:H/MSI:S/MSA:S', 7.6],
    [
      'CVSS:4.0/AV:P/AC:L/AT:N/PR:L/UI:A/VC:N/VI:H/VA:L/SC:H/SI:H/SA:H/E:P/CR:H/IR:H/AR:H/MAV:A/MAC:X/MAT:N/MPR:X/MUI:X/MVC:N/MVI:H/MVA:H/MSC:N/MSI:H/MSA:S/S:N/AU:X/R:I/V:X/RE:M/U:Clear',
      7.1,
    ],
    [
      'CVSS:4.0/AV:L/AC:H/AT:P/PR:H/UI:N/VC:N/VI:H/VA:L/SC:L/SI:H/SA:N/E:U/CR:X/IR:L/AR:H/MAV:P/MAC:L/MAT:P/MPR:X/MUI:A/MVC:N/MVI:X/MVA:X/MSC:L/MSI:H/MSA:X/S:N/AU:X/R:X/V:C/RE:H/U:Amber',
      0.6,
    ],
    [
      'CVSS:4.0/AV:P/AC:H/AT:N/PR:L/UI:P/VC:H/VI:N/VA:N/SC:L/SI:L/SA:L/E:A/CR:X/IR:M/AR:X/MAV:L/MAC:L/MAT:X/MPR:N/MUI:P/MVC:N/MVI:N/MVA:H/MSC:L/MSI:S/MSA:H/S:N/AU:Y/R:U/V:X/RE:M/U:Amber',
      9.2,
    ],
  ] as const)('ae-cvss-calculator scores %s as %s', (vector, expected) => {
    expect(new cvss.Cvss4P0(vector).calculateScores().overall).toBe(expected);
  });

  it('accepts metrics out of order, as published GHSA vectors sometimes are', () => {
    expect(cvssBaseScore('CVSS_V4', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:L/SC:N/VI:L/SI:N/VA:N/SA:N')).toBe(
      5.1,
    );
    expect(cvssBaseScore('CVSS_V3', 'CVSS:3.1/S:C/AV:N/AC:L/PR:N/UI:N/C:H/I:H/A:H')).toBe(10);
  });

  it.each([
    [
      'CVSS_V3',
      'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N',
      'a v4 vector labelled CVSS_V3',
    ],
    ['CVSS_V4', V3_CRITICAL, 'a v3 vector labelled CVSS_V4'],
    ['CVSS_V3', 'AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 'no prefix'],
    ['CVSS_V3', 'CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 'unknown version'],
    ['CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H', 'a base metric missing'],
    ['CVSS_V3', 'CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 'a metric twice'],
    ['CVSS_V3', 'CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 'a value out of range'],
    ['CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H/XX:Y', 'an unknown metric'],
    ['CVSS_V3', `${V3_CRITICAL}/`, 'a trailing slash'],
    ['CVSS_V3', ` ${V3_CRITICAL}`, 'leading space'],
    ['CVSS_V3', V3_CRITICAL.toLowerCase(), 'lower case'],
    ['CVSS_V4', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N', 'SA missing'],
    ['CVSS_V2', `CVSS:2.0/${V2_HIGH}`, 'a prefix on v2'],
    ['CVSS_V2', 'AV:N/AC:M/Au:N/C:C/I:C', 'A missing'],
    ['CVSS_V3', '', 'empty'],
    ['CVSS_V3', 'garbage', 'garbage'],
    ['CVSS_V3', `${V3_CRITICAL}${'/E:X'.repeat(130)}`, 'overlong, metrics repeated'],
  ] as const)('rejects %s %j (%s)', (type, vector, _why) => {
    expect(cvssBaseScore(type, vector)).toBeUndefined();
  });
});

describe('ratingOfScore', () => {
  it.each([
    [0, 'none'],
    [0.1, 'low'],
    [3.9, 'low'],
    [4.0, 'medium'],
    [6.9, 'medium'],
    [7.0, 'high'],
    [8.9, 'high'],
    [9.0, 'critical'],
    [10, 'critical'],
  ] as const)('CVSS v3/v4 %s is %s (specification bands)', (score, rating) => {
    expect(ratingOfScore(score, 3)).toBe(rating);
    expect(ratingOfScore(score, 4)).toBe(rating);
  });

  it.each([
    [0, 'low'],
    [3.9, 'low'],
    [4.0, 'medium'],
    [6.9, 'medium'],
    [7.0, 'high'],
    [10, 'high'],
  ] as const)('CVSS v2 %s is %s (NVD v2 bands)', (score, rating) => {
    expect(ratingOfScore(score, 2)).toBe(rating);
  });

  it('rates impossible scores unknown', () => {
    for (const score of [-0.1, 10.1, Number.NaN]) expect(ratingOfScore(score, 3)).toBe('unknown');
  });

  it('meets the band edges with real vectors (CVSS-B scores from vectors_simple4)', () => {
    const rate = (vector: string) => severityOf(record({ severity: [{ type: 'CVSS_V4', score: vector }] }));
    expect(rate('CVSS:4.0/AV:N/AC:H/AT:N/PR:H/UI:A/VC:N/VI:N/VA:N/SC:N/SI:H/SA:N')).toMatchObject({
      score: 4,
      rating: 'medium',
    });
    expect(rate('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:N/SC:N/SI:L/SA:N')).toMatchObject({
      score: 6.9,
      rating: 'medium',
    });
    expect(rate('CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:P/VC:H/VI:N/VA:L/SC:N/SI:H/SA:L')).toMatchObject({
      score: 7,
      rating: 'high',
    });
    expect(rate('CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:N/VA:N/SC:L/SI:L/SA:H')).toMatchObject({
      score: 9,
      rating: 'critical',
    });
  });
});

describe('severityOf', () => {
  it('rates the fixtures from their CVSS vectors', () => {
    expect(severityOf(fixture('osv-linter--GHSA-9v2f-6vcg-3hgv.json'))).toEqual({
      rating: 'critical',
      score: 9.8,
      vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
      source: 'CVSS_V3',
    });
    expect(severityOf(fixture('redhat--RHSA-2024_4546.json'))).toMatchObject({ rating: 'high', score: 7.5 });
    expect(severityOf(fixture('osv-linter--CVE-2018-5407.json'))).toMatchObject({
      rating: 'medium',
      score: 4.7,
    });
  });

  it('returns undefined when a record says nothing about severity', () => {
    expect(severityOf(fixture('ghsa--equals_with_patch.osv.json'))).toBeUndefined();
    expect(severityOf(fixture('osv-linter--MAL-2024-10238.json'))).toBeUndefined();
  });

  it('prefers CVSS v4 over v3 over v2, whatever the scores', () => {
    const all = [
      { type: 'CVSS_V2', score: V2_HIGH },
      { type: 'CVSS_V3', score: V3_CRITICAL },
      { type: 'CVSS_V4', score: V4_MEDIUM },
    ];
    expect(severityOf(record({ severity: all }))).toMatchObject({
      source: 'CVSS_V4',
      score: 5.1,
      rating: 'medium',
    });
    expect(severityOf(record({ severity: all.slice(0, 2) }))).toMatchObject({ source: 'CVSS_V3', score: 10 });
    expect(severityOf(record({ severity: all.slice(0, 1) }))).toMatchObject({
      source: 'CVSS_V2',
      rating: 'high',
    });
  });

  it('skips invalid vectors and falls back to the next source', () => {
    const severity = [
      { type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L' },
      { type: 'CVSS_V3', score: V3_HIGH },
    ];
    expect(severityOf(record({ severity }))).toMatchObject({ source: 'CVSS_V3', score: 7.5 });
    const onlyBad = [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N' }];
    expect(severityOf(record({ severity: onlyBad, database_specific: { severity: 'LOW' } }))).toMatchObject({
      rating: 'low',
      source: 'GHSA database_specific.severity',
    });
    expect(severityOf(record({ severity: onlyBad }))).toBeUndefined();
  });

  it('prefers package-level severity over the record level', () => {
    const affected = [{ package: pkg, severity: [{ type: 'CVSS_V3', score: V3_HIGH }] }];
    const both = record({ severity: [{ type: 'CVSS_V4', score: V4_MEDIUM }], affected });
    expect(severityOf(both, both.affected[0])).toMatchObject({ source: 'CVSS_V3', score: 7.5 });
    expect(severityOf(both)).toMatchObject({ source: 'CVSS_V3', score: 7.5 });
  });

  it('rates each affected package by its own severity, and the record by the worst', () => {
    const withTwo = record({
      affected: [
        { package: pkg, severity: [{ type: 'CVSS_V3', score: V3_HIGH }] },
        {
          package: { ecosystem: 'npm', name: 'right-pad' },
          severity: [{ type: 'CVSS_V3', score: V3_CRITICAL }],
        },
      ],
    });
    expect(severityOf(withTwo, withTwo.affected[0])).toMatchObject({ score: 7.5 });
    expect(severityOf(withTwo, withTwo.affected[1])).toMatchObject({ score: 10 });
    expect(severityOf(withTwo)).toMatchObject({ score: 10, rating: 'critical' });
  });

  it('takes the most severe of several vectors of one type', () => {
    const severity = [
      { type: 'CVSS_V3', score: V3_HIGH },
      { type: 'CVSS_V3', score: V3_CRITICAL },
    ];
    expect(severityOf(record({ severity }))).toMatchObject({ score: 10 });
  });

  it('uses Ubuntu priorities after every CVSS source and before database words', () => {
    const ubuntu = record({
      id: 'UBUNTU-CVE-2024-1',
      severity: [{ type: 'Ubuntu', score: 'medium' }],
      database_specific: { severity: 'CRITICAL' },
    });
    expect(severityOf(ubuntu)).toEqual({ rating: 'medium', vector: 'medium', source: 'Ubuntu' });
    const negligible = record({ severity: [{ type: 'Ubuntu', score: 'negligible' }] });
    expect(severityOf(negligible)).toMatchObject({ rating: 'low' });
    const cvssToo = record({
      severity: [
        { type: 'Ubuntu', score: 'high' },
        { type: 'CVSS_V3', score: V3_CRITICAL },
      ],
    });
    expect(severityOf(cvssToo)).toMatchObject({ source: 'CVSS_V3' });
  });

  it.each([
    ['CRITICAL', 'critical'],
    ['HIGH', 'high'],
    ['MODERATE', 'medium'],
    ['LOW', 'low'],
  ] as const)('maps GHSA database_specific.severity %s to %s', (word, rating) => {
    expect(severityOf(record({ database_specific: { severity: word } }))).toEqual({
      rating,
      vector: word,
      source: 'GHSA database_specific.severity',
    });
  });

  it('maps Debian urgency, with unassigned urgencies rated unknown', () => {
    const debian = (urgency: string) =>
      record({
        id: 'DEBIAN-CVE-2024-1',
        affected: [{ package: { ecosystem: 'Debian:12', name: 'openssl' }, ecosystem_specific: { urgency } }],
      });
    expect(severityOf(debian('high'))).toEqual({
      rating: 'high',
      vector: 'high',
      source: 'DEBIAN ecosystem_specific.urgency',
    });
    expect(severityOf(debian('low**'))).toMatchObject({ rating: 'low' });
    expect(severityOf(debian('unimportant'))).toMatchObject({ rating: 'low' });
    expect(severityOf(debian('not yet assigned'))).toMatchObject({
      rating: 'unknown',
      vector: 'not yet assigned',
    });
  });

  it('lets a recognised word win over an unrecognised one that comes earlier', () => {
    const mixed = record({
      affected: [{ package: pkg, ecosystem_specific: { urgency: 'end-of-life' } }],
      database_specific: { severity: 'HIGH' },
    });
    expect(severityOf(mixed)).toMatchObject({ rating: 'high', source: 'GHSA database_specific.severity' });
  });

  it('ignores unknown severity types', () => {
    expect(severityOf(record({ severity: [{ type: 'VENDOR_X', score: 'HIGH' }] }))).toBeUndefined();
  });
});

describe('ordering and thresholds', () => {
  it('orders ratings most severe first, unknown last', () => {
    const shuffled: Rating[] = ['low', 'unknown', 'critical', 'none', 'medium', 'high'];
    expect([...shuffled].sort(compareRatings)).toEqual(ratingOrder);
    expect(ratingOrder).toEqual(['critical', 'high', 'medium', 'low', 'none', 'unknown']);
  });

  it('orders severities by rating, then score, with undefined last', () => {
    const a: Severity = { rating: 'high', score: 7.5, source: 'CVSS_V3' };
    const b: Severity = { rating: 'high', score: 8.8, source: 'CVSS_V3' };
    const c: Severity = { rating: 'high', source: 'Ubuntu' };
    const d: Severity = { rating: 'critical', score: 9, source: 'CVSS_V4' };
    expect([a, undefined, c, b, d].sort(compareSeverities)).toEqual([d, b, a, c, undefined]);
  });

  it('parses --fail-on values', () => {
    expect(parseRating('critical')).toBe('critical');
    expect(parseRating(' High ')).toBe('high');
    expect(parseRating('MEDIUM')).toBe('medium');
    expect(parseRating('low')).toBe('low');
    expect(() => parseRating('moderate')).toThrow(
      new RangeError('unknown severity "moderate": expected critical, high, medium or low'),
    );
    expect(() => parseRating('none')).toThrow(RangeError);
  });

  it('trips a threshold at or above it, never on unknown', () => {
    expect(meetsThreshold('critical', 'high')).toBe(true);
    expect(meetsThreshold('high', 'high')).toBe(true);
    expect(meetsThreshold('medium', 'high')).toBe(false);
    expect(meetsThreshold('low', 'low')).toBe(true);
    expect(meetsThreshold('none', 'low')).toBe(false);
    expect(meetsThreshold('unknown', 'low')).toBe(false);
  });
});
