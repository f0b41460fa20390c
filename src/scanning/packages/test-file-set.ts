// Test support: an in-memory FileSet that keeps only what the given catalogers want, as the
// layer walker does, so tests exercise wants() and catalog() together. Excluded from the build.
import { readFileSync } from 'node:fs';
import { AnalysisError } from '../analysis-error.js';
import type { Cataloger, FileSet } from './cataloger.js';

export function fileSetOf(
  files: Record<string, Buffer | string>,
  catalogers?: readonly Cataloger[],
): FileSet {
  const kept = new Map<string, Buffer>();
  for (const [path, content] of Object.entries(files)) {
    if (catalogers && !catalogers.some((c) => c.wants(path))) continue;
    kept.set(path, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
  }
  const sorted = [...kept.keys()].sort();
  return { get: (path) => kept.get(path), paths: () => sorted };
}

/** A fixture under test/fixtures, as bytes. */
export function fixture(relative: string): Buffer {
  return readFileSync(new URL(`../../../test/fixtures/${relative}`, import.meta.url));
}

/** The AnalysisError a call throws (any other outcome fails the test). */
export function analysisFailure(run: () => unknown): AnalysisError {
  try {
    run();
  } catch (error) {
    if (error instanceof AnalysisError) return error;
    throw error;
  }
  throw new Error('expected an AnalysisError');
}
