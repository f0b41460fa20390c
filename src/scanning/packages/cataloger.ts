// The contract between the layer walker and the package catalogers. The walker streams every
// layer once, keeps only the files some cataloger wants (after whiteouts, in layer order) and
// hands them over; catalogers never touch tar, compression or the blob store.
import type { Distro, InstalledPackage } from './package.js';

/** The wanted files of the final (squashed) filesystem, symlinks already resolved. */
export interface FileSet {
  /** Content of a wanted file, by path relative to the root without a leading slash. */
  get(path: string): Buffer | undefined;
  /** Paths of every wanted regular file present in the final filesystem, sorted. */
  paths(): string[];
}

export interface Cataloger {
  /** Short name, e.g. apk, dpkg, npm, python. */
  readonly name: string;
  /** Largest file this cataloger accepts; a larger wanted file fails the analysis (database-too-large). */
  readonly maxFileBytes: number;
  /** Whether this cataloger reads the file at `path` (relative, normalised, no leading slash). */
  wants(path: string): boolean;
  /**
   * The packages recorded in the wanted files. Throws AnalysisError ('malformed-database',
   * 'invalid-utf8') for files it cannot trust; returns [] when none of its files exist.
   */
  catalog(files: FileSet, distro: Distro | undefined): InstalledPackage[];
}
