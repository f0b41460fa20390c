// The apk cataloger against syft's fixture databases, and against databases apk would not write.
import { describe, expect, it } from 'vitest';
import { APK_DATABASE_PATH, apkInstalledCataloger, parseApkDatabase } from './apk-installed.js';
import { MAX_FILES_PER_PACKAGE, MAX_PACKAGES } from './database-text.js';
import type { Distro } from './package.js';
import { analysisFailure as failure, fileSetOf, fixture } from './test-file-set.js';

const alpine: Distro = { id: 'alpine', versionId: '3.16.2', idLike: [] };

function catalog(database: Buffer | string, distro: Distro | undefined = alpine) {
  return apkInstalledCataloger.catalog(fileSetOf({ [APK_DATABASE_PATH]: database }), distro);
}

describe('apkInstalledCataloger', () => {
  it('reads one record with its origin, licence, maintainer and owned files', () => {
    const packages = catalog(fixture('apk/syft-single.installed'));
    expect(packages).toEqual([
      {
        type: 'apk',
        name: 'musl-utils',
        version: '1.1.24-r2',
        sourceName: 'musl',
        arch: 'x86_64',
        licenses: ['MIT BSD GPL2+'],
        supplier: 'Timo Teräs <timo.teras@iki.fi>',
        location: 'lib/apk/db/installed',
        files: ['sbin/ldconfig', 'usr/bin/iconv', 'usr/bin/ldd', 'usr/bin/getconf', 'usr/bin/getent'],
        purl: 'pkg:apk/alpine/musl-utils@1.1.24-r2?arch=x86_64&distro=alpine-3.16.2&upstream=musl',
      },
    ]);
  });

  it('leaves sourceName out when the origin is the package itself', () => {
    const [pkg] = catalog(fixture('apk/syft-base.installed'));
    expect(pkg!.sourceName).toBeUndefined();
    expect(pkg!.purl).toBe('pkg:apk/alpine/alpine-baselayout@3.2.0-r6?arch=x86_64&distro=alpine-3.16.2');
    expect(pkg!.files).toHaveLength(27);
    expect(pkg!.files).toContain('etc/crontabs/root');
    expect(pkg!.files).toContain('var/spool/cron/crontabs');
  });

  it('reads every record of a multi-package database', () => {
    const packages = catalog(fixture('apk/syft-multiple-2.installed'));
    expect(packages.map((p) => `${p.name}@${p.version}`)).toEqual([
      'alpine-baselayout-data@3.2.0-r22',
      'musl@1.2.3-r0',
      'busybox@1.35.0-r17',
      'alpine-baselayout@3.2.0-r22',
      'alpine-keys@2.4-r1',
      'ca-certificates-bundle@20220614-r0',
      'libcrypto1.1@1.1.1q-r0',
      'libssl1.1@1.1.1q-r0',
      'ssl_client@1.35.0-r17',
      'zlib@1.2.12-r3',
      'apk-tools@2.12.9-r3',
      'scanelf@1.3.4-r0',
      'musl-utils@1.2.3-r0',
      'libc-utils@0.7.2-r3',
    ]);
    const ssl = packages.find((p) => p.name === 'ssl_client')!;
    expect(ssl.purl).toBe(
      'pkg:apk/alpine/ssl_client@1.35.0-r17?arch=x86_64&distro=alpine-3.16.2&upstream=busybox',
    );
    expect(packages.find((p) => p.name === 'ca-certificates-bundle')!.licenses).toEqual(['MPL-2.0 AND MIT']);
  });

  it('omits the distro qualifier on a rolling distribution and falls back to alpine without os-release', () => {
    const db = 'P:glibc\nV:2.39-r1\nA:aarch64\n';
    expect(catalog(db, { id: 'wolfi', idLike: [] })[0]!.purl).toBe(
      'pkg:apk/wolfi/glibc@2.39-r1?arch=aarch64&distro=wolfi',
    );
    const withoutOsRelease = apkInstalledCataloger.catalog(fileSetOf({ [APK_DATABASE_PATH]: db }), undefined);
    expect(withoutOsRelease[0]!.purl).toBe('pkg:apk/alpine/glibc@2.39-r1?arch=aarch64');
  });

  it('returns nothing when the image has no apk database', () => {
    expect(apkInstalledCataloger.catalog(fileSetOf({}), alpine)).toEqual([]);
  });

  it('tolerates CRLF line ends, extra blank lines and unknown fields', () => {
    const db = '\r\n\r\nP:a\r\nV:1-r0\r\nX:whatever\r\n\r\n\r\nP:b\nV:2-r0\n';
    expect(catalog(db).map((p) => p.name)).toEqual(['a', 'b']);
  });

  it('fails on a record without a name or a version', () => {
    const noName = failure(() => catalog('P:a\nV:1\n\nV:2\nA:x86_64\n'));
    expect(noName.reason).toBe('malformed-database');
    expect(noName.message).toContain('"lib/apk/db/installed"');
    expect(noName.message).toContain('line 4 has no P:');
    expect(failure(() => catalog('P:a\n')).message).toContain('has no V:');
  });

  it('fails on lines that are not fields, repeated fields and unsafe names', () => {
    expect(failure(() => catalog('P:a\nV:1\nnot a field\n')).reason).toBe('malformed-database');
    expect(failure(() => catalog('P:a\nP:b\nV:1\n')).message).toContain('repeats the P: field');
    expect(failure(() => catalog('P:a b\nV:1\n')).message).toContain('invalid name');
    expect(failure(() => catalog(`P:a\nV:${'9'.repeat(300)}\n`)).message).toContain('invalid version');
    expect(failure(() => catalog(`P:a\nV:1\nT:${'x'.repeat(70_000)}\n`)).message).toContain('longer than');
  });

  it('fails on bytes that are not UTF-8, naming the file', () => {
    const error = failure(() => catalog(Buffer.from([0x50, 0x3a, 0xff, 0x0a, 0x56, 0x3a, 0x31])));
    expect(error.reason).toBe('invalid-utf8');
    expect(error.message).toContain('lib/apk/db/installed');
  });

  it('bounds owned files per package and drops paths escaping the root', () => {
    const lines = ['P:big', 'V:1', 'F:usr/share'];
    for (let i = 0; i < MAX_FILES_PER_PACKAGE + 50; i++) lines.push(`R:f${i}`);
    expect(catalog(lines.join('\n'))[0]!.files).toHaveLength(MAX_FILES_PER_PACKAGE);
    const [record] = parseApkDatabase('P:a\nV:1\nF:../etc\nR:passwd\nF:usr\nR:ok\n', 'db');
    expect(record!.files).toEqual(['usr/ok']);
  });

  it('fails on more records than any real image has', () => {
    const error = failure(() => catalog('P:a\nV:1\n\n'.repeat(MAX_PACKAGES + 1)));
    expect(error.reason).toBe('database-too-large');
  });

  it('wants only the installed database', () => {
    expect(apkInstalledCataloger.wants('lib/apk/db/installed')).toBe(true);
    expect(apkInstalledCataloger.wants('lib/apk/db/installed.bak')).toBe(false);
    expect(apkInstalledCataloger.wants('usr/lib/apk/db/installed')).toBe(false);
    expect(apkInstalledCataloger.wants('lib/apk/db/triggers')).toBe(false);
  });
});
