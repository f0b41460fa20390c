// The set of catalogers an image analysis runs, and the step that turns the layer walker's
// FileSet into the image inventory: distribution first (it namespaces the OS package purls),
// then every cataloger, then one deterministic order.
import { apkInstalledCataloger } from './apk-installed.js';
import type { Cataloger, FileSet } from './cataloger.js';
import { dpkgStatusCataloger } from './dpkg-status.js';
import { npmInstalledCataloger, npmLockfileCataloger } from './npm-packages.js';
import { osReleaseCataloger, readDistro } from './os-release.js';
import type { ImageInventory } from './package.js';
import { sortedUniquePackages } from './package-order.js';
import { pythonPackagesCataloger } from './python-packages.js';

/** Every cataloger; the walker keeps a file when any of them wants it. */
export const catalogers: Cataloger[] = [
  osReleaseCataloger,
  apkInstalledCataloger,
  dpkgStatusCataloger,
  npmInstalledCataloger,
  npmLockfileCataloger,
  pythonPackagesCataloger,
];

/**
 * The inventory of an image. Throws the first AnalysisError a cataloger raises: a database that
 * cannot be trusted fails the whole analysis rather than yielding a silently partial inventory.
 */
export function catalogImage(files: FileSet): ImageInventory {
  const distro = readDistro(files);
  const packages = sortedUniquePackages(catalogers.flatMap((cataloger) => cataloger.catalog(files, distro)));
  return distro ? { distro, packages } : { packages };
}
