// The one model of "a package found in an image" that catalogers produce, SBOM writers print and
// the matcher compares against vulnerability data. Kept small and explicit so that every field an
// SBOM or a finding shows can be traced back to the file it was read from.

/** Package ecosystems Palisade catalogs; the names are the purl types. */
export type PackageType = 'apk' | 'deb' | 'npm' | 'pypi';

export interface InstalledPackage {
  type: PackageType;
  /** The binary package name (apk, deb), the npm name with its scope, the PyPI name as declared. */
  name: string;
  /** The installed version exactly as the package database records it. */
  version: string;
  /** apk `origin` or dpkg `Source` package, only where it differs from `name`. */
  sourceName?: string;
  /** dpkg source version, only where it differs from `version`. */
  sourceVersion?: string;
  /** Architecture as the database records it (apk `A:`, dpkg `Architecture:`). */
  arch?: string;
  /** Declared licences, as written (an SPDX expression where the database gives one). */
  licenses: string[];
  /** Maintainer / author as written, if any. */
  supplier?: string;
  /** Path (relative to the image root, no leading slash) of the file this package was read from. */
  location: string;
  /** Files the package owns (apk, dpkg), relative to the root; bounded by the cataloger. */
  files?: string[];
  /** Package URL (https://github.com/package-url/purl-spec) identifying it. */
  purl: string;
}

/** The distribution, from `etc/os-release` (or `usr/lib/os-release`). */
export interface Distro {
  /** `ID=`, e.g. alpine, debian, wolfi, ubuntu. */
  id: string;
  /** `VERSION_ID=`, e.g. 3.19.1, 12. Absent on rolling distributions such as Wolfi. */
  versionId?: string;
  /** `VERSION_CODENAME=`, e.g. bookworm. */
  codename?: string;
  /** `PRETTY_NAME=`. */
  prettyName?: string;
  /** `ID_LIKE=`, split on spaces. */
  idLike: string[];
}

/** What analysing one image produced. */
export interface ImageInventory {
  distro?: Distro;
  packages: InstalledPackage[];
}
