// One deterministic order for packages, shared by the inventory and the SBOM writers, so that
// analysing the same image twice lists the same packages in the same order (and the SBOMs built
// from it are byte-identical). Plain code-unit comparison: no locale may change the result.
import type { InstalledPackage } from './package.js';

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The package with its fields in a fixed order, as JSON: equal keys mean exact duplicates. */
export function packageKey(pkg: InstalledPackage): string {
  return JSON.stringify([
    pkg.purl,
    pkg.location,
    pkg.type,
    pkg.name,
    pkg.version,
    pkg.sourceName ?? null,
    pkg.sourceVersion ?? null,
    pkg.arch ?? null,
    pkg.licenses,
    pkg.supplier ?? null,
    pkg.files ?? null,
  ]);
}

/** By purl, then location, then every other field, so even near-duplicates have a fixed order. */
export function comparePackages(a: InstalledPackage, b: InstalledPackage): number {
  return (
    compareText(a.purl, b.purl) ||
    compareText(a.location, b.location) ||
    compareText(packageKey(a), packageKey(b))
  );
}

/** Sorted, with exact duplicates removed. */
export function sortedUniquePackages(packages: readonly InstalledPackage[]): InstalledPackage[] {
  const keyed = packages.map((pkg) => ({ pkg, key: packageKey(pkg) }));
  keyed.sort(
    (a, b) =>
      compareText(a.pkg.purl, b.pkg.purl) ||
      compareText(a.pkg.location, b.pkg.location) ||
      compareText(a.key, b.key),
  );
  return keyed.filter((entry, i) => i === 0 || entry.key !== keyed[i - 1]!.key).map((entry) => entry.pkg);
}
