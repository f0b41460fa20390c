// Reads the reference tables in testdata/ for the version-scheme tests (not part of the build): the
// tables are committed so the tests run without dpkg, python or apk-tools installed.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { VersionScheme } from './version-scheme.js';

export interface CompareRow {
  readonly line: number;
  readonly a: string;
  readonly b: string;
  readonly expected: -1 | 0 | 1;
  readonly source?: string;
}

export interface ValidityRow {
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

export function readCompareTable(file: string): CompareRow[] {
  return readRows(file).map(({ line, fields }) => {
    const [a, b, expected, source] = fields;
    if (a === undefined || b === undefined || !['-1', '0', '1'].includes(expected ?? ''))
      throw new Error(`${file}:${line}: malformed row`);
    return { line, a, b, expected: Number(expected) as -1 | 0 | 1, ...(source ? { source } : {}) };
  });
}

export function readValidityTable(file: string): ValidityRow[] {
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
export function expectCompareTable(scheme: VersionScheme, file: string, rows: readonly CompareRow[]): void {
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

export function expectValidityTable(scheme: VersionScheme, file: string, rows: readonly ValidityRow[]): void {
  const failures = rows
    .filter((row) => scheme.isValid(row.version) !== row.valid)
    .map((row) => `${file}:${row.line} isValid(${JSON.stringify(row.version)}) should be ${row.valid}`);
  expect(failures).toEqual([]);
}

/** Every invalid version makes compare() throw, on either side. */
export function expectInvalidThrow(scheme: VersionScheme, invalid: readonly string[], valid: string): void {
  for (const version of invalid) {
    expect(() => scheme.compare(version, valid), version).toThrow(/not a valid/);
    expect(() => scheme.compare(valid, version), version).toThrow(/not a valid/);
  }
}

/** Sorting with the comparator keeps every table relation: a cheap transitivity check. */
export function expectConsistentSort(scheme: VersionScheme, rows: readonly CompareRow[]): void {
  const versions = [...new Set(rows.flatMap((r) => [r.a, r.b]))].sort((x, y) => scheme.compare(x, y));
  const position = new Map<string, number>();
  versions.forEach((v, i) => position.set(v, i));
  const failures = rows.filter((row) => {
    const d = Math.sign(position.get(row.a)! - position.get(row.b)!);
    return row.expected !== 0 && d !== row.expected;
  });
  expect(failures).toEqual([]);
}
