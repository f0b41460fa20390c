// The dpkg cataloger against syft's status fixtures and a distroless status.d, with owned files
// from .list and .md5sums, DEP-5 licences, and the status files dpkg itself would reject.
import { describe, expect, it } from 'vitest';
import { MAX_FILES_PER_PACKAGE } from './database-text.js';
import {
  DPKG_STATUS_PATH,
  dpkgStatusCataloger,
  parseCopyrightLicenses,
  parseDpkgList,
} from './dpkg-status.js';
import type { Distro } from './package.js';
import { analysisFailure, fileSetOf, fixture } from './test-file-set.js';

const debian: Distro = { id: 'debian', versionId: '12', codename: 'bookworm', idLike: [] };

function catalog(files: Record<string, Buffer | string>, distro: Distro = debian) {
  return dpkgStatusCataloger.catalog(fileSetOf(files, [dpkgStatusCataloger]), distro);
}

const statusOf = (status: string) => catalog({ [DPKG_STATUS_PATH]: status });

describe('dpkgStatusCataloger', () => {
  it('reads every installed package of a status file, with source packages and versions', () => {
    const packages = statusOf(fixture('dpkg/syft-coreutils-relationships.status').toString());
    expect(packages.map((p) => [p.name, p.version, p.sourceName, p.sourceVersion])).toEqual([
      ['coreutils', '9.1-1', undefined, undefined],
      ['libacl1', '2.3.1-3', 'acl', undefined],
      ['libc6', '2.36-9+deb12u1', 'glibc', undefined],
      ['libgcc-s1', '12.2.0-14', 'gcc-12', undefined],
      ['gcc-12-base', '12.2.0-14', 'gcc-12', undefined],
      ['libattr1', '1:2.5.1-4', 'attr', undefined],
      ['libgmp10', '2:6.2.1+dfsg1-1.1', 'gmp', undefined],
      ['libselinux1', '3.4-1+b6', 'libselinux', '3.4-1'],
      ['libpcre2-8-0', '10.42-1', 'pcre2', undefined],
    ]);
    expect(packages[7]).toEqual({
      type: 'deb',
      name: 'libselinux1',
      version: '3.4-1+b6',
      sourceName: 'libselinux',
      sourceVersion: '3.4-1',
      arch: 'arm64',
      licenses: [],
      supplier: 'Debian SELinux maintainers <selinux-devel@lists.alioth.debian.org>',
      location: 'var/lib/dpkg/status',
      files: [],
      purl: 'pkg:deb/debian/libselinux1@3.4-1+b6?arch=arm64&distro=debian-12&upstream=libselinux%403.4-1',
    });
    expect(packages[1]!.purl).toBe('pkg:deb/debian/libacl1@2.3.1-3?arch=arm64&distro=debian-12&upstream=acl');
    expect(packages[5]!.purl).toBe(
      'pkg:deb/debian/libattr1@1:2.5.1-4?arch=arm64&distro=debian-12&upstream=attr',
    );
  });

  it('skips a paragraph with an empty Package field and keeps continuation lines out of the way', () => {
    const packages = statusOf(fixture('dpkg/syft-image-dpkg.status').toString());
    expect(packages).toHaveLength(1);
    expect(packages[0]).toMatchObject({
      name: 'libpam-runtime',
      version: '1.1.8-3.6',
      arch: 'all',
      sourceName: 'pam',
      supplier: 'Steve Langasek <vorlon@debian.org>',
      purl: 'pkg:deb/debian/libpam-runtime@1.1.8-3.6?arch=all&distro=debian-12&upstream=pam',
    });
  });

  it('reports only installed packages', () => {
    const status = [
      'Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n',
      'Package: half\nStatus: install reinstreq half-installed\nVersion: 1\n',
      'Package: here\nStatus: install ok installed\nVersion: 2\n',
      'Package: nostatus\nVersion: 3\n',
    ].join('\n');
    expect(statusOf(status).map((p) => p.name)).toEqual(['here']);
  });

  it('reads distroless status.d files, with owned files from their .md5sums', () => {
    const packages = catalog({
      'var/lib/dpkg/status.d/libsqlite3-0': fixture('dpkg/distroless-status.d/libsqlite3-0'),
      'var/lib/dpkg/status.d/libsqlite3-0.md5sums':
        '0123456789abcdef0123456789abcdef  usr/lib/aarch64-linux-gnu/libsqlite3.so.0.8.6\n' +
        'fedcba9876543210fedcba9876543210  usr/share/doc/libsqlite3-0/copyright\n',
      'var/lib/dpkg/status.d/base-files': 'Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: arm64\n',
    });
    expect(packages.map((p) => p.name)).toEqual(['base-files', 'libsqlite3-0']);
    expect(packages[1]).toEqual({
      type: 'deb',
      name: 'libsqlite3-0',
      version: '3.34.1-3',
      sourceName: 'sqlite3',
      arch: 'arm64',
      licenses: [],
      supplier: 'Laszlo Boszormenyi (GCS) <gcs@debian.org>',
      location: 'var/lib/dpkg/status.d/libsqlite3-0',
      files: ['usr/lib/aarch64-linux-gnu/libsqlite3.so.0.8.6', 'usr/share/doc/libsqlite3-0/copyright'],
      purl: 'pkg:deb/debian/libsqlite3-0@3.34.1-3?arch=arm64&distro=debian-12&upstream=sqlite3',
    });
  });

  it('takes owned files from the arch-qualified .list first, leaving directories out', () => {
    const list =
      '/.\n/usr\n/usr/lib\n/usr/lib/libacl.so.1\n/usr/share/doc/libacl1\n/usr/share/doc/libacl1/copyright\n';
    const [pkg] = catalog({
      [DPKG_STATUS_PATH]:
        'Package: libacl1\nStatus: install ok installed\nArchitecture: arm64\nVersion: 2.3.1-3\n',
      'var/lib/dpkg/info/libacl1:arm64.list': list,
      'var/lib/dpkg/info/libacl1.list': '/wrong\n',
    });
    expect(pkg!.files).toEqual(['usr/lib/libacl.so.1', 'usr/share/doc/libacl1/copyright']);
  });

  it('reads licences from a machine-readable copyright file and ignores free-form ones', () => {
    const dep5 = [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: acl',
      '',
      'Files: *',
      'Copyright: 1999-2014 Andreas Gruenbacher',
      'License: GPL-2+',
      '',
      'Files: libacl/*',
      'License: LGPL-2.1+',
      '',
      'License: GPL-2+',
      ' This program is free software; you can redistribute it',
      ' .',
      ' and/or modify it.',
    ].join('\n');
    const packages = catalog({
      [DPKG_STATUS_PATH]:
        'Package: libacl1\nStatus: install ok installed\nVersion: 1\n\nPackage: tzdata\nStatus: install ok installed\nVersion: 2\n',
      'usr/share/doc/libacl1/copyright': dep5,
      'usr/share/doc/tzdata/copyright': 'This is the Debian prepackaged version of the Time Zone database.\n',
    });
    expect(packages.map((p) => p.licenses)).toEqual([['GPL-2+', 'LGPL-2.1+'], []]);
    expect(parseCopyrightLicenses(Buffer.from([0x46, 0x6f, 0xe9]), 'usr/share/doc/x/copyright')).toEqual([]);
  });

  it('uses the distribution of the image in the purl', () => {
    const [pkg] = catalog(
      {
        [DPKG_STATUS_PATH]:
          'Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.1-6ubuntu1\n',
      },
      { id: 'ubuntu', versionId: '22.04', idLike: ['debian'] },
    );
    expect(pkg!.purl).toBe('pkg:deb/ubuntu/bash@5.1-6ubuntu1?arch=amd64&distro=ubuntu-22.04');
  });

  it('fails on syntax dpkg would reject', () => {
    const cases: [string, string][] = [
      ['Package: a\nStatus: install ok installed\n', 'has no Version'],
      ['Package: a\nStatus: installed\nVersion: 1\n', 'Status that is not'],
      ['Package: a\nPackage: b\nStatus: install ok installed\nVersion: 1\n', 'repeats the Package field'],
      [' continued\nPackage: a\n', 'continues no field'],
      ['Package: a\nthis is not a field\n', 'not a "Field: value" line'],
      ['Package: a b\nStatus: install ok installed\nVersion: 1\n', 'invalid package name'],
      ['Package: a\nStatus: install ok installed\nVersion: 1\nSource: x (1) y\n', 'invalid Source'],
    ];
    for (const [status, message] of cases) {
      const error = analysisFailure(() => statusOf(status));
      expect(error.reason).toBe('malformed-database');
      expect(error.message).toContain(message);
      expect(error.message).toContain('"var/lib/dpkg/status"');
    }
  });

  it('fails on a status file or .list that is not UTF-8', () => {
    const bad = Buffer.concat([
      Buffer.from('Package: caf'),
      Buffer.from([0xe9]),
      Buffer.from('\nVersion: 1\n'),
    ]);
    const error = analysisFailure(() => catalog({ [DPKG_STATUS_PATH]: bad }));
    expect(error.reason).toBe('invalid-utf8');
    expect(error.message).toContain('var/lib/dpkg/status');
    const list = analysisFailure(() =>
      catalog({
        [DPKG_STATUS_PATH]: 'Package: a\nStatus: install ok installed\nVersion: 1\n',
        'var/lib/dpkg/info/a.list': Buffer.from([0x2f, 0xff]),
      }),
    );
    expect(list.message).toContain('var/lib/dpkg/info/a.list');
  });

  it('bounds owned files', () => {
    const lines = Array.from({ length: MAX_FILES_PER_PACKAGE + 10 }, (_, i) => `/usr/share/f${i}`);
    expect(parseDpkgList(lines.join('\n'), 'x.list')).toHaveLength(MAX_FILES_PER_PACKAGE);
  });

  it('wants the status file, status.d entries, .list files and copyright files only', () => {
    const wanted = [
      'var/lib/dpkg/status',
      'var/lib/dpkg/status.d/libc6',
      'var/lib/dpkg/status.d/libc6.md5sums',
      'var/lib/dpkg/info/libc6:amd64.list',
      'var/lib/dpkg/info/bash.list',
      'usr/share/doc/bash/copyright',
    ];
    const unwanted = [
      'var/lib/dpkg/status-old',
      'var/lib/dpkg/status.d/sub/x',
      'var/lib/dpkg/info/bash.md5sums',
      'var/lib/dpkg/info/bash.postinst',
      'usr/share/doc/bash/changelog.gz',
      'usr/share/doc/bash/examples/copyright',
      'opt/var/lib/dpkg/status',
    ];
    for (const path of wanted) expect(dpkgStatusCataloger.wants(path), path).toBe(true);
    for (const path of unwanted) expect(dpkgStatusCataloger.wants(path), path).toBe(false);
  });
});
