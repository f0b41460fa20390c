// The contract every version comparator meets. Vulnerability matching never compares version
// strings as text: it asks the scheme of the package's ecosystem.

export interface VersionScheme {
  /** Short name: apk, dpkg, semver, pep440. */
  readonly name: string;
  /** True when the string is a valid version in this scheme. */
  isValid(version: string): boolean;
  /**
   * Negative, zero or positive as a sorts before, equal to or after b.
   * Throws InvalidVersionError when either is not valid in this scheme.
   */
  compare(a: string, b: string): number;
}

export class InvalidVersionError extends Error {
  constructor(
    readonly scheme: string,
    readonly version: string,
  ) {
    super(`not a valid ${scheme} version: ${JSON.stringify(version.slice(0, 100))}`);
    this.name = 'InvalidVersionError';
  }
}
