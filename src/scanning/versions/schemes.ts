// Which version ordering an OSV ecosystem uses. Ecosystems without one here are still matched, but
// only by the exact `versions` lists of their advisories: guessing an ordering would invent matches.
import type { VersionScheme } from './version-scheme.js';
import { apkVersions } from './apk.js';
import { dpkgVersions } from './dpkg.js';
import { pep440Versions } from './pep440.js';
import { semverVersions } from './semver.js';

/** Keyed by the ecosystem name before any ":suffix" (release, as in "Alpine:v3.18" or "Debian:12"). */
const BY_ECOSYSTEM: ReadonlyMap<string, VersionScheme> = new Map([
  ['Alpine', apkVersions],
  ['Wolfi', apkVersions],
  ['Chainguard', apkVersions],
  ['Debian', dpkgVersions],
  ['Ubuntu', dpkgVersions],
  ['npm', semverVersions],
  ['PyPI', pep440Versions],
]);

/** The version scheme for an OSV `affected[].package.ecosystem` string, or undefined if none applies. */
export function versionSchemeFor(ecosystem: string): VersionScheme | undefined {
  const colon = ecosystem.indexOf(':');
  return BY_ECOSYSTEM.get(colon < 0 ? ecosystem : ecosystem.slice(0, colon));
}
