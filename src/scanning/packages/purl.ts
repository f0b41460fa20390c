// Package URLs for the four ecosystems, built in one place so that every cataloger (and the SBOM
// importer) spells them the same canonical way: packageurl-js encodes and sorts the qualifiers,
// and the distro and upstream qualifiers follow what syft and grype write for apk and deb.
import { PackageURL } from 'packageurl-js';
import type { Distro } from './package.js';

/** `distro=` qualifier value: `<id>-<VERSION_ID>`, or just the id on rolling distributions. */
export function distroQualifier(distro: Distro): string {
  return distro.versionId ? `${distro.id}-${distro.versionId}` : distro.id;
}

export interface OsPackageCoordinates {
  name: string;
  version: string;
  arch?: string;
  sourceName?: string;
  sourceVersion?: string;
}

/**
 * `pkg:apk/<distro>/<name>@<version>?arch=…&distro=…&upstream=…` or the deb equivalent. Without
 * os-release the namespace falls back to the ecosystem's usual vendor and there is no distro
 * qualifier. `upstream` is the source package, with `@<version>` only when that differs.
 */
export function osPackagePurl(
  type: 'apk' | 'deb',
  distro: Distro | undefined,
  pkg: OsPackageCoordinates,
): string {
  const qualifiers: Record<string, string> = {};
  if (pkg.arch) qualifiers.arch = pkg.arch;
  if (distro) qualifiers.distro = distroQualifier(distro);
  if (pkg.sourceName || pkg.sourceVersion) {
    const source = pkg.sourceName ?? pkg.name;
    qualifiers.upstream = pkg.sourceVersion ? `${source}@${pkg.sourceVersion}` : source;
  }
  const namespace = distro?.id ?? (type === 'apk' ? 'alpine' : 'debian');
  return new PackageURL(type, namespace, pkg.name, pkg.version, qualifiers, undefined).toString();
}

/** `pkg:npm/%40scope/name@version`; the scope is the purl namespace. */
export function npmPurl(name: string, version: string): string {
  const slash = name.startsWith('@') ? name.indexOf('/') : -1;
  const namespace = slash > 0 ? name.slice(0, slash) : undefined;
  const bare = slash > 0 ? name.slice(slash + 1) : name;
  return new PackageURL('npm', namespace, bare, version, undefined, undefined).toString();
}

/** PEP 503 normalisation: lower case, runs of `-`, `_` and `.` become one `-`. */
export function normalisePythonName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

export function pypiPurl(name: string, version: string): string {
  return new PackageURL(
    'pypi',
    undefined,
    normalisePythonName(name),
    version,
    undefined,
    undefined,
  ).toString();
}
