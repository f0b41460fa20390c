// The tests every version scheme runs against its reference tables in testdata/ (not part of the
// build): the tables are committed so the tests run without dpkg, python or apk-tools installed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { VersionScheme } from './version-scheme.js';

interface CompareRow {
  readonly line: number;
  readonly a: string;
  readonly b: string;
  readonly expected: -1 | 0 | 1;
  readonly source?: string;
}

interface ValidityRow {
  readonly line: number;
  readonly version: string;
  readonly valid: boolean;
  readonly source?: string;
}

/** A field starting with a double quote is a JSON string (used for whitespace and empty versions). */
function decodeField(field: string): string {
  return field.startsWith('"') ? (JSON.parse(field) as string) : field;
}

function readRows(file: string): { line: number; fields: string[] }[] {
  const text = readFileSync(new URL(`./testdata/${file}`, import.meta.url), 'utf8');
  return text
    .split('\n')
    .map((raw, i) => ({ line: i + 1, raw }))
    .filter(({ raw }) => raw.length > 0 && !raw.startsWith('#'))
    .map(({ line, raw }) => ({ line, fields: raw.split('\t').map(decodeField) }));
}

function readCompareTable(file: string): CompareRow[] {
  return readRows(file).map(({ line, fields }) => {
    const [a, b, expected, source] = fields;
    if (a === undefined || b === undefined || !['-1', '0', '1'].includes(expected ?? ''))
      throw new Error(`${file}:${line}: malformed row`);
    return { line, a, b, expected: Number(expected) as -1 | 0 | 1, ...(source ? { source } : {}) };
  });
}

function readValidityTable(file: string): ValidityRow[] {
  return readRows(file).map(({ line, fields }) => {
    const [version, valid, source] = fields;
    if (version === undefined || (valid !== '0' && valid !== '1'))
      throw new Error(`${file}:${line}: malformed row`);
    return { line, version, valid: valid === '1', ...(source ? { source } : {}) };
  });
}

function describeRow(file: string, row: CompareRow): string {
  return `${file}:${row.line} compare(${JSON.stringify(row.a)}, ${JSON.stringify(row.b)})`;
}

/**
 * Checks every row in both directions and reports all disagreements at once, so a regeneration that
 * exposes several differences shows them together instead of one per run.
 */
function expectCompareTable(scheme: VersionScheme, file: string, rows: readonly CompareRow[]): void {
  const failures: string[] = [];
  for (const row of rows) {
    const forward = Math.sign(scheme.compare(row.a, row.b));
    const backward = Math.sign(scheme.compare(row.b, row.a));
    if (forward !== row.expected)
      failures.push(`${describeRow(file, row)} = ${forward}, want ${row.expected}`);
    if (backward !== -row.expected) failures.push(`${describeRow(file, row)} is not antisymmetric`);
  }
  expect(failures).toEqual([]);
}

function expectValidityTable(scheme: VersionScheme, file: string, rows: readonly ValidityRow[]): void {
  const failures = rows
    .filter((row) => scheme.isValid(row.version) !== row.valid)
    .map((row) => `${file}:${row.line} isValid(${JSON.stringify(row.version)}) should be ${row.valid}`);
  expect(failures).toEqual([]);
}

/** Every invalid version makes compare() throw, on either side. */
function expectInvalidThrow(scheme: VersionScheme, invalid: readonly string[], valid: string): void {
  for (const version of invalid) {
    expect(() => scheme.compare(version, valid), version).toThrow(/not a valid/);
    expect(() => scheme.compare(valid, version), version).toThrow(/not a valid/);
  }
}

/** Sorting with the comparator keeps every table relation: a cheap transitivity check. */
function expectConsistentSort(scheme: VersionScheme, rows: readonly CompareRow[]): void {
  const versions = [...new Set(rows.flatMap((r) => [r.a, r.b]))].sort((x, y) => scheme.compare(x, y));
  const position = new Map<string, number>();
  versions.forEach((v, i) => position.set(v, i));
  const failures = rows.filter((row) => {
    const d = Math.sign(position.get(row.a)! - position.get(row.b)!);
    return row.expected !== 0 && d !== row.expected;
  });
  expect(failures).toEqual([]);
}

export interface SchemeTables {
  /** What produced the tables, for the test names: "dpkg --compare-versions", "npm semver". */
  readonly reference: string;
  /** File names in testdata/. */
  readonly compareTable: string;
  readonly validityTable: string;
  /**
   * The fewest rows the compare table may have, so a regeneration that lost most of it fails; with
   * minRowsSource, only the rows marked with that source count.
   */
  readonly minCompareRows: number;
  readonly minRowsSource?: string;
  /** Versions that compare() must refuse on either side of the valid version validVersion. */
  readonly invalid: readonly string[];
  readonly validVersion: string;
}

/**
 * The shared suite of a version scheme: its size floor, every compare row in both directions, a sort
 * consistent with the table, every validity row, and compare() throwing for invalid versions. Each
 * scheme's test file runs it and adds only the cases particular to that scheme.
 */
export function versionSchemeSuite(scheme: VersionScheme, tables: SchemeTables): void {
  const { compareTable, validityTable, minCompareRows, minRowsSource } = tables;
  const compareRows = readCompareTable(compareTable);
  const validityRows = readValidityTable(validityTable);

  describe(`${scheme.name} against ${tables.reference}`, () => {
    it(`has at least ${minCompareRows} ${minRowsSource ?? 'reference'} rows in ${compareTable}`, () => {
      const counted = compareRows.filter((r) => minRowsSource === undefined || r.source === minRowsSource);
      expect(counted.length).toBeGreaterThanOrEqual(minCompareRows);
    });

    it(`agrees with every row of ${compareTable}, both ways round`, () => {
      expectCompareTable(scheme, compareTable, compareRows);
    });

    it(`sorts the versions of ${compareTable} consistently`, () => {
      expectConsistentSort(scheme, compareRows);
    });

    it(`accepts and rejects what ${validityTable} says`, () => {
      expectValidityTable(scheme, validityTable, validityRows);
    });

    it('throws InvalidVersionError for invalid versions', () => {
      expectInvalidThrow(scheme, tables.invalid, tables.validVersion);
    });
  });
}
