// catalogImage over a whole (in-memory) image: the distribution namespaces OS packages, every
// cataloger contributes, the order is deterministic and exact duplicates collapse.
import { describe, expect, it } from 'vitest';
import { catalogImage, catalogers } from './catalogers.js';
import { analysisFailure, fileSetOf, fixture } from './test-file-set.js';

const image = {
  'etc/os-release': 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
  'var/lib/dpkg/status': fixture('dpkg/syft-coreutils-relationships.status'),
  'usr/lib/node_modules/npm/package.json': JSON.stringify({
    name: 'npm',
    version: '10.5.0',
    license: 'Artistic-2.0',
  }),
  'usr/lib/node_modules/npm/node_modules/@npmcli/arborist/package.json': JSON.stringify({
    name: '@npmcli/arborist',
    version: '7.4.0',
    license: 'ISC',
  }),
  'usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA': 'Name: six\nVersion: 1.16.0\nLicense: MIT\n',
  'usr/bin/bash': Buffer.alloc(100),
  'etc/passwd': 'root:x:0:0::/root:/bin/bash\n',
};

describe('catalogImage', () => {
  it('reads the distribution and every ecosystem into one sorted inventory', () => {
    const inventory = catalogImage(fileSetOf(image, catalogers));
    expect(inventory.distro).toEqual({ id: 'debian', versionId: '12', codename: 'bookworm', idLike: [] });
    expect(inventory.packages).toHaveLength(12);
    const purls = inventory.packages.map((p) => p.purl);
    expect(purls).toEqual([...purls].sort());
    expect(purls.slice(0, 2)).toEqual([
      'pkg:deb/debian/coreutils@9.1-1?arch=arm64&distro=debian-12',
      'pkg:deb/debian/gcc-12-base@12.2.0-14?arch=arm64&distro=debian-12&upstream=gcc-12',
    ]);
    expect(purls.slice(-3)).toEqual([
      'pkg:npm/%40npmcli/arborist@7.4.0',
      'pkg:npm/npm@10.5.0',
      'pkg:pypi/six@1.16.0',
    ]);
  });

  it('is deterministic whatever order the files arrive in, and removes exact duplicates only', () => {
    const reversed = Object.fromEntries(Object.entries(image).reverse());
    expect(catalogImage(fileSetOf(reversed, catalogers))).toEqual(catalogImage(fileSetOf(image, catalogers)));
    const twice = catalogImage(
      fileSetOf(
        {
          'var/lib/dpkg/status':
            'Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: a\nStatus: install ok installed\nVersion: 1\n',
          'var/lib/dpkg/status.d/a': 'Package: a\nVersion: 1\n',
        },
        catalogers,
      ),
    );
    expect(twice.packages.map((p) => p.location)).toEqual(['var/lib/dpkg/status', 'var/lib/dpkg/status.d/a']);
    expect(twice.distro).toBeUndefined();
  });

  it('keeps the files every cataloger needs and nothing else', () => {
    const kept = fileSetOf(image, catalogers).paths();
    expect(kept).not.toContain('usr/bin/bash');
    expect(kept).not.toContain('etc/passwd');
    expect(kept).toContain('etc/os-release');
  });

  it('fails the whole analysis when one database cannot be trusted', () => {
    const broken = { ...image, 'lib/apk/db/installed': 'V:1\n' };
    expect(analysisFailure(() => catalogImage(fileSetOf(broken, catalogers))).reason).toBe(
      'malformed-database',
    );
  });
});
