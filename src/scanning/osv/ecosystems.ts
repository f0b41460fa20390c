// The bridge between "a package found in an image" and "a package named in an OSV record". OSV names
// packages by (ecosystem, name) with per-ecosystem conventions: Alpine and Debian records name the
// source package and scope it to a release (`Alpine:v3.19`, `Debian:12`), PyPI names are PEP 503
// normalised, npm names are case-sensitive. The importer stores records under `ecosystemKeyOf` and
// the matcher looks packages up under `osvKeysFor`; both normalise names here, so they cannot drift.
//
// Ecosystem conventions: https://ossf.github.io/osv-schema/#affectedpackage-field
import type { Distro, InstalledPackage } from '../packages/package.js';

export interface ParsedEcosystem {
  /** The ecosystem proper, e.g. `Alpine`, `Red Hat`, `npm`. */
  base: string;
  /** Everything after the first colon, e.g. `v3.18`, `22.04:LTS`, `rhel_aus:8.6::appstream`. */
  release?: string;
}

/** (ecosystem, normalised name): the key stored records and installed packages are compared by. */
export interface OsvPackageKey {
  ecosystem: string;
  name: string;
}

/** A lookup key for one installed package, with the version to evaluate the record's ranges at. */
export interface OsvLookupKey extends OsvPackageKey {
  version: string;
}

/** Splits `Alpine:v3.18` into `{ base: 'Alpine', release: 'v3.18' }`; no suffix, no release. */
export function parseEcosystem(ecosystem: string): ParsedEcosystem {
  const colon = ecosystem.indexOf(':');
  if (colon < 0) return { base: ecosystem };
  const release = ecosystem.slice(colon + 1);
  return release === '' ? { base: ecosystem.slice(0, colon) } : { base: ecosystem.slice(0, colon), release };
}

/**
 * The name as OSV compares it within `base`. PyPI: PEP 503 normalisation (lowercase, every run of
 * `-`, `_` and `.` becomes one `-`), since records and installers spell the same project differently
 * (`Foo.Bar_baz`, `foo-bar-baz`). Every other ecosystem, npm included, compares names exactly.
 */
export function normalizePackageName(base: string, name: string): string {
  if (base === 'PyPI') return name.toLowerCase().replace(/[-_.]+/g, '-');
  return name;
}

/** The key a stored record's `affected[].package` is filed under. */
export function ecosystemKeyOf(pkg: { ecosystem: string; name: string }): OsvPackageKey {
  return {
    ecosystem: pkg.ecosystem,
    name: normalizePackageName(parseEcosystem(pkg.ecosystem).base, pkg.name),
  };
}

// Debian releases by codename, from distro-info-data (debian.csv); only needed for images whose
// os-release has no VERSION_ID (testing and unstable). OSV names unnumbered releases by series.
const DEBIAN_CODENAMES: Readonly<Record<string, string>> = {
  wheezy: '7',
  jessie: '8',
  stretch: '9',
  buster: '10',
  bullseye: '11',
  bookworm: '12',
  trixie: '13',
  forky: '14',
  duke: '15',
  sid: 'sid',
};

/**
 * Every (OSV ecosystem, name, version) under which OSV data would list `pkg`; the matcher looks up
 * each key and evaluates matching records at that key's version. Keys, by package type and distro:
 *
 * - apk on Alpine (`ID=alpine`): `Alpine:v<major>.<minor>` from VERSION_ID (3.19.1 → `Alpine:v3.19`);
 *   without a usable VERSION_ID, bare `Alpine`. Name: the apk origin (`sourceName ?? name`), which is
 *   the source package Alpine's secdb names. Version: as installed.
 * - apk on Wolfi (`ID=wolfi`): `Wolfi`; on Chainguard OS (`ID=chainguard`): `Chainguard`. Same name
 *   (origin) and version. Any other or unknown distro: bare `Alpine` (matches only unscoped records).
 * - deb on Debian (`ID=debian`): `Debian:<major>` from VERSION_ID, or from VERSION_CODENAME when
 *   VERSION_ID is absent (testing: `trixie` → `Debian:13`; unstable: `Debian:sid`); plus bare
 *   `Debian` always, because the Debian suffix is optional and an unscoped record applies to every
 *   release. Name: the source package (`sourceName ?? name`). Version: `sourceVersion ?? version`.
 * - deb on Ubuntu (`ID=ubuntu`): `Ubuntu:<YY.MM>`, with the `:LTS` suffix OSV requires for LTS
 *   releases (`Ubuntu:22.04:LTS`), and for LTS releases also `Ubuntu:Pro:<YY.MM>:LTS`: Ubuntu Pro
 *   (ESM) records carry the fixes published after standard support, and an image without Pro is
 *   still vulnerable to them. Without VERSION_ID, bare `Ubuntu`. Name and version as for Debian.
 * - deb on any other or unknown distro: bare `Ubuntu` when ID_LIKE names ubuntu, else bare `Debian`.
 * - npm: `npm`, name as declared (case-sensitive), version as installed.
 * - pypi: `PyPI`, name PEP 503-normalised, version as installed.
 */
export function osvKeysFor(pkg: InstalledPackage, distro: Distro | undefined): OsvLookupKey[] {
  switch (pkg.type) {
    case 'apk':
      return apkEcosystems(distro).map((ecosystem) => ({
        ecosystem,
        name: sourceName(pkg),
        version: pkg.version,
      }));
    case 'deb':
      return debEcosystems(distro).map((ecosystem) => ({
        ecosystem,
        name: sourceName(pkg),
        version: pkg.sourceVersion ?? pkg.version,
      }));
    case 'npm':
      return [{ ecosystem: 'npm', name: pkg.name, version: pkg.version }];
    case 'pypi':
      return [{ ecosystem: 'PyPI', name: normalizePackageName('PyPI', pkg.name), version: pkg.version }];
  }
}

function sourceName(pkg: InstalledPackage): string {
  return pkg.sourceName ?? pkg.name;
}

function apkEcosystems(distro: Distro | undefined): string[] {
  const id = distro?.id.toLowerCase();
  if (id === 'wolfi') return ['Wolfi'];
  if (id === 'chainguard') return ['Chainguard'];
  const release = id === 'alpine' ? /^(\d+)\.(\d+)/.exec(distro?.versionId ?? '') : null;
  return release ? [`Alpine:v${release[1]}.${release[2]}`] : ['Alpine'];
}

function debEcosystems(distro: Distro | undefined): string[] {
  const id = distro?.id.toLowerCase();
  if (id === 'debian') return debianEcosystems(distro!);
  if (id === 'ubuntu') return ubuntuEcosystems(distro!);
  const ubuntuLike = distro?.idLike.some((like) => like.toLowerCase() === 'ubuntu') ?? false;
  return [ubuntuLike ? 'Ubuntu' : 'Debian'];
}

function debianEcosystems(distro: Distro): string[] {
  const major = /^(\d+)/.exec(distro.versionId ?? '')?.[1];
  const codename = distro.codename?.toLowerCase();
  const release = major ?? (codename !== undefined ? DEBIAN_CODENAMES[codename] : undefined);
  return release !== undefined ? [`Debian:${release}`, 'Debian'] : ['Debian'];
}

function ubuntuEcosystems(distro: Distro): string[] {
  const version = /^(\d+)\.(\d+)/.exec(distro.versionId ?? '');
  if (!version) return ['Ubuntu'];
  const release = `${version[1]}.${version[2]}`;
  if (!isUbuntuLts(distro, Number(version[1]), version[2]!)) return [`Ubuntu:${release}`];
  return [`Ubuntu:${release}:LTS`, `Ubuntu:Pro:${release}:LTS`];
}

// os-release says "LTS" in PRETTY_NAME (`Ubuntu 22.04.4 LTS`); the rule behind it (April releases of
// even years since 8.04) covers images whose PRETTY_NAME was trimmed.
function isUbuntuLts(distro: Distro, year: number, month: string): boolean {
  if (/\bLTS\b/.test(distro.prettyName ?? '')) return true;
  return month === '04' && year % 2 === 0 && year >= 8;
}
