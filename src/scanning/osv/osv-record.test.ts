// The OSV parser against the published fixtures (ossf/osv-schema testdata) and against hostile
// input: every rejection must name the record and the JSON path in one line.
import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import type { OsvAffected as MatcherAffected } from './affected.js';
import { OSV_LIMITS, OsvRecordError, parseOsvRecord, truncateUtf8 } from './osv-record.js';

const FIXTURES = new URL('../../../test/fixtures/osv/', import.meta.url);
const SCHEMA = new URL('../../../test/fixtures/schemas/osv.schema.json', import.meta.url);
const fixtureNames = readdirSync(FIXTURES).filter((name) => name.endsWith('.json'));

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8'));
}

function record(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'GHSA-aaaa-bbbb-cccc', modified: '2024-05-01T10:00:00Z', ...extra };
}

function withRange(range: Record<string, unknown>): Record<string, unknown> {
  return record({ affected: [{ package: { ecosystem: 'npm', name: 'left-pad' }, ranges: [range] }] });
}

function rejection(value: unknown): OsvRecordError {
  try {
    parseOsvRecord(value);
  } catch (error) {
    expect(error).toBeInstanceOf(OsvRecordError);
    return error as OsvRecordError;
  }
  throw new Error('expected the record to be rejected');
}

describe('parseOsvRecord on the published fixtures', () => {
  it('has fixtures to read', () => {
    expect(fixtureNames.length).toBeGreaterThanOrEqual(17);
  });

  it('agrees that none of them is broken: each validates against the official JSON schema', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    // ajv-formats is CommonJS with a default export: under NodeNext the function sits on .default.
    (formats as unknown as { default: (a: Ajv2020) => void }).default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
    for (const name of fixtureNames) {
      expect(validate(fixture(name)), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it.each(fixtureNames)('parses %s', (name) => {
    const raw = fixture(name) as { id: string; modified: string; affected?: unknown[] };
    const parsed = parseOsvRecord(raw);
    expect(parsed.id).toBe(raw.id);
    expect(parsed.modified).toBe(raw.modified);
    expect(parsed.affected).toHaveLength(raw.affected?.length ?? 0);
  });

  it('keeps the fields Palisade uses and drops the rest', () => {
    const parsed = parseOsvRecord(fixture('osv-linter--PYSEC-2023-74.json'));
    expect(parsed.aliases).toEqual(['CVE-2023-32681', 'GHSA-j8r2-6x86-q33q']);
    expect(parsed.modified).toBe('2023-06-05T01:13:00.534973Z');
    const [affected] = parsed.affected;
    expect(affected!.package).toEqual({ ecosystem: 'PyPI', name: 'requests', purl: 'pkg:pypi/requests' });
    expect(affected!.versions).toHaveLength(66);
    expect(affected!.ranges).toEqual([
      {
        type: 'GIT',
        repo: 'https://github.com/psf/requests',
        events: [{ introduced: '0' }, { fixed: '74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5' }],
      },
      { type: 'ECOSYSTEM', events: [{ introduced: '2.3.0' }, { fixed: '2.31.0' }] },
    ]);
    expect(parsed.references[0]).toEqual({
      type: 'ADVISORY',
      url: 'https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-q33q',
    });
    const go = parseOsvRecord(fixture('osv-linter--GO-2020-0001.json'));
    expect(go).not.toHaveProperty('credits');
    expect(go.schema_version).toBe('1.3.1');
    expect(go.affected[0]!.ecosystem_specific).toMatchObject({
      imports: [{ path: 'github.com/gin-gonic/gin' }],
    });
  });

  it('reads withdrawn, related, upstream and record-level severity', () => {
    expect(parseOsvRecord(fixture('ghsa--withdrawn.osv.json')).withdrawn).toBe('2018-10-11T17:29:49Z');
    const rhsa = parseOsvRecord(fixture('redhat--RHSA-2024_4546.json'));
    expect(rhsa.related).toEqual(['GO-2024-2687']);
    expect(rhsa.upstream).toEqual(['CVE-2023-45288']);
    expect(rhsa.severity).toEqual([
      { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' },
    ]);
    expect(rhsa.affected[0]!.package!.ecosystem).toBe('Red Hat:rhel_aus:8.6::appstream');
    const ghsa = parseOsvRecord(fixture('osv-linter--GHSA-9v2f-6vcg-3hgv.json'));
    expect(ghsa.database_specific).toMatchObject({ severity: 'CRITICAL' });
  });

  it('accepts records without affected packages and affected entries without a package', () => {
    expect(parseOsvRecord(fixture('osv-linter--RHSA-2022_0216.json')).affected).toEqual([]);
    const [gitOnly] = parseOsvRecord(fixture('osv-linter--CVE-2023-41045.json')).affected;
    expect(gitOnly!.package).toBeUndefined();
    expect(gitOnly!.ranges[0]!.events).toHaveLength(3);
  });

  it('produces affected entries the range matcher accepts as they are', () => {
    const parsed = parseOsvRecord(fixture('ghsa--full_ranges.osv.json'));
    const forMatcher: MatcherAffected[] = parsed.affected;
    expect(forMatcher).toHaveLength(2);
  });
});

describe('parseOsvRecord on malformed and hostile input', () => {
  it('rejects non-objects', () => {
    for (const value of [null, [], 'GHSA-x', 42, undefined]) {
      expect(rejection(value).path).toBe('$');
    }
    expect(rejection(null).message).toBe('OSV record (id unknown): $: must be an object (got null)');
  });

  it('requires id and modified', () => {
    expect(rejection({ modified: '2024-05-01T10:00:00Z' }).message).toBe(
      'OSV record (id unknown): $.id: is required',
    );
    expect(rejection({ id: 'GHSA-aaaa-bbbb-cccc' }).message).toBe(
      'OSV record GHSA-aaaa-bbbb-cccc: $.modified: is required',
    );
  });

  it('checks the id grammar and never echoes a bad id', () => {
    for (const id of [
      'GHSA',
      'GHSA-',
      '-1',
      '../../etc/passwd',
      'GHSA-a/b',
      'CVE-2024 1',
      'GHSA-\u001b[2J',
      'x'.repeat(200),
    ]) {
      const error = rejection(record({ id }));
      expect(error.path, id).toBe('$.id');
      expect(error.recordId).toBeUndefined();
      expect(error.message).toMatch(/^OSV record \(id unknown\): \$\.id: /);
    }
    for (const id of [
      'RHSA-2022:0216',
      'SUSE-SU-2024:1234-1',
      'openSUSE-SU-2024:0001-1',
      'ASB-A-123',
      'x_local-1',
      'V8-2024-1',
    ]) {
      expect(parseOsvRecord(record({ id })).id).toBe(id);
    }
  });

  it('rejects timestamps that are not RFC 3339 date-times', () => {
    for (const modified of [
      'yesterday',
      '2024-05-01',
      '2024-05-01 10:00:00Z',
      '2024-02-30T10:00:00Z',
      '2024-05-01T25:00:00Z',
      '2024-05-01T10:00Z',
      1714557600,
    ]) {
      const error = rejection(record({ modified }));
      expect(error.path, String(modified)).toBe('$.modified');
    }
    expect(rejection(record({ published: '2024-05-01' })).path).toBe('$.published');
    expect(rejection(record({ withdrawn: 'soon' })).message).toBe(
      'OSV record GHSA-aaaa-bbbb-cccc: $.withdrawn: must be an RFC 3339 date-time, e.g. 2024-01-31T12:00:00Z',
    );
    expect(parseOsvRecord(record({ modified: '2024-05-01T12:00:00.123+02:00' })).modified).toBe(
      '2024-05-01T12:00:00.123+02:00',
    );
  });

  it('rejects wrong types with the path and both types', () => {
    expect(rejection(record({ aliases: 'CVE-2024-1' })).message).toBe(
      'OSV record GHSA-aaaa-bbbb-cccc: $.aliases: must be an array (got string)',
    );
    expect(rejection(record({ affected: {} })).path).toBe('$.affected');
    expect(rejection(record({ severity: [{ type: 'CVSS_V3', score: 9.8 }] })).path).toBe(
      '$.severity[0].score',
    );
    expect(rejection(record({ affected: [{ package: { ecosystem: 'npm', name: 5 } }] })).message).toBe(
      'OSV record GHSA-aaaa-bbbb-cccc: $.affected[0].package.name: must be a string (got number)',
    );
    expect(rejection(record({ affected: [{ package: { name: 'x' } }] })).path).toBe(
      '$.affected[0].package.ecosystem',
    );
    expect(rejection(record({ references: [{ type: 'WEB', url: 'not a url' }] })).path).toBe(
      '$.references[0].url',
    );
    expect(rejection(record({ database_specific: [] })).message).toBe(
      'OSV record GHSA-aaaa-bbbb-cccc: $.database_specific: must be a JSON object',
    );
  });

  it('treats null arrays as empty, as the schema allows', () => {
    const parsed = parseOsvRecord(
      record({ aliases: null, affected: null, references: null, severity: null }),
    );
    expect(parsed).toMatchObject({ aliases: [], affected: [], references: [], severity: [] });
  });

  it('requires exactly one key per event', () => {
    const two = rejection(
      withRange({ type: 'SEMVER', events: [{ introduced: '0' }, { introduced: '1.0.0', fixed: '1.0.2' }] }),
    );
    expect(two.message).toBe(
      'OSV record GHSA-aaaa-bbbb-cccc: $.affected[0].ranges[0].events[1]: ' +
        'must have exactly one of introduced, fixed, last_affected, limit (found: introduced, fixed)',
    );
    const none = rejection(withRange({ type: 'SEMVER', events: [{ introduced: '0' }, { fixd: '1.0.2' }] }));
    expect(none.reason).toMatch(/\(found: none\)$/);
  });

  it('enforces the schema rules on ranges', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ type: 'SEMVER', events: [] }, '$.affected[0].ranges[0].events', /at least one event/],
      [
        { type: 'SEMVER', events: [{ fixed: '1.0.0' }] },
        '$.affected[0].ranges[0].events',
        /introduced event/,
      ],
      [
        { type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '1' }, { last_affected: '2' }] },
        '$.affected[0].ranges[0].events',
        /fixed and last_affected/,
      ],
      [
        { type: 'RPM', events: [{ introduced: '0' }] },
        '$.affected[0].ranges[0].type',
        /ECOSYSTEM, SEMVER or GIT/,
      ],
      [{ type: 'GIT', events: [{ introduced: '0' }] }, '$.affected[0].ranges[0].repo', /required on GIT/],
      [
        { type: 'GIT', repo: 'https://github.com/a/b', events: [{ introduced: '0' }, { fixed: 'abc123' }] },
        '$.affected[0].ranges[0].events[1]',
        /full-length lowercase commit hash/,
      ],
      [
        { type: 'SEMVER', events: [{ introduced: '' }] },
        '$.affected[0].ranges[0].events[0].introduced',
        /empty/,
      ],
    ];
    for (const [range, path, reason] of cases) {
      const error = rejection(withRange(range));
      expect(error.path, JSON.stringify(range)).toBe(path);
      expect(error.reason).toMatch(reason);
    }
  });

  it('bounds every array before looking at its entries', () => {
    const tooMany = <T>(count: number, item: T): T[] => Array.from({ length: count }, () => item);
    const affected = { package: { ecosystem: 'npm', name: 'x' } };
    const cases: [Record<string, unknown>, string][] = [
      [record({ affected: tooMany(OSV_LIMITS.affected + 1, affected) }), '$.affected'],
      [
        record({ affected: [{ ...affected, versions: tooMany(OSV_LIMITS.versions + 1, '1.0.0') }] }),
        '$.affected[0].versions',
      ],
      [
        withRange({ type: 'SEMVER', events: tooMany(OSV_LIMITS.events + 1, { introduced: '0' }) }),
        '$.affected[0].ranges[0].events',
      ],
      [record({ aliases: tooMany(OSV_LIMITS.aliases + 1, 'CVE-2024-1') }), '$.aliases'],
      [
        record({ references: tooMany(OSV_LIMITS.references + 1, { type: 'WEB', url: 'https://a' }) }),
        '$.references',
      ],
      [
        record({ severity: tooMany(OSV_LIMITS.severities + 1, { type: 'Ubuntu', score: 'low' }) }),
        '$.severity',
      ],
    ];
    for (const [value, path] of cases) {
      const error = rejection(value);
      expect(error.path).toBe(path);
      expect(error.reason).toMatch(/^must have at most \d+ entries$/);
    }
    const atLimit = parseOsvRecord(
      record({ affected: [{ ...affected, versions: tooMany(OSV_LIMITS.versions, '1.0.0') }] }),
    );
    expect(atLimit.affected[0]!.versions).toHaveLength(OSV_LIMITS.versions);
  });

  it('bounds identifiers and rejects control characters in them', () => {
    const long = rejection(
      record({ affected: [{ package: { ecosystem: 'npm', name: 'a'.repeat(OSV_LIMITS.nameLength + 1) } }] }),
    );
    expect(long.message).toBe(
      `OSV record GHSA-aaaa-bbbb-cccc: $.affected[0].package.name: must be at most ${OSV_LIMITS.nameLength} characters`,
    );
    const escape = rejection(
      record({ affected: [{ package: { ecosystem: 'npm', name: 'evil\u001b[31m' } }] }),
    );
    expect(escape.reason).toBe('must not contain control characters');
    expect(rejection(record({ affected: [{ versions: ['1.0\n2.0'] }] })).path).toBe(
      '$.affected[0].versions[0]',
    );
  });

  it('bounds opaque database_specific objects by depth and size', () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) deep = { nested: deep };
    expect(rejection(record({ database_specific: deep })).reason).toMatch(/nested at most 32 levels/);
    const wide = { values: Array.from({ length: OSV_LIMITS.opaqueValues + 1 }, (_, i) => i) };
    expect(rejection(record({ affected: [{ ecosystem_specific: wide }] })).path).toBe(
      '$.affected[0].ecosystem_specific',
    );
  });

  it('keeps a __proto__ key as data without touching any prototype', () => {
    const parsed = parseOsvRecord(
      JSON.parse(
        '{"id":"GHSA-a-b","modified":"2024-05-01T10:00:00Z","database_specific":{"__proto__":{"polluted":true}}}',
      ),
    );
    expect(Object.getPrototypeOf(parsed.database_specific)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('truncates prose instead of rejecting it, and strips control characters', () => {
    const details = 'é'.repeat(OSV_LIMITS.detailsBytes); // two bytes each: twice the limit
    const parsed = parseOsvRecord(record({ details, summary: 'bad\u001b[2J summary\nsecond line' }));
    expect(Buffer.byteLength(parsed.details!, 'utf8')).toBe(OSV_LIMITS.detailsBytes);
    expect(parsed.details).toBe('é'.repeat(OSV_LIMITS.detailsBytes / 2));
    expect(parsed.summary).toBe('bad[2J summarysecond line');
    expect(parseOsvRecord(record({ details: 'a\n\tb\u0000' })).details).toBe('a\n\tb');
  });

  it('keeps every error message on one line', () => {
    const error = rejection(record({ affected: [{ ranges: [{ type: 'SEMVER', events: [{}] }] }] }));
    expect(error.message).not.toMatch(/\n/);
    expect(error.name).toBe('OsvRecordError');
  });
});

describe('truncateUtf8', () => {
  it('never splits a multi-byte character', () => {
    expect(truncateUtf8('aé€😀', 1)).toBe('a');
    expect(truncateUtf8('aé€😀', 2)).toBe('a');
    expect(truncateUtf8('aé€😀', 3)).toBe('aé');
    expect(truncateUtf8('aé€😀', 9)).toBe('aé€');
    expect(truncateUtf8('aé€😀', 10)).toBe('aé€😀');
  });
});
