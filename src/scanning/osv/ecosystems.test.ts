// Which OSV (ecosystem, name, version) keys an installed package is looked up under, and that the
// importer files stored records under the same normalised keys.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Distro, InstalledPackage } from '../packages/package.js';
import { ecosystemKeyOf, normalizePackageName, osvKeysFor, parseEcosystem } from './ecosystems.js';
import { parseOsvRecord } from './osv-record.js';

function installed(
  fields: Partial<InstalledPackage> & Pick<InstalledPackage, 'type' | 'name' | 'version'>,
): InstalledPackage {
  return {
    licenses: [],
    location: 'lib/apk/db/installed',
    purl: `pkg:${fields.type}/${fields.name}`,
    ...fields,
  };
}

function distro(id: string, fields: Partial<Distro> = {}): Distro {
  return { id, idLike: [], ...fields };
}

const libcrypto = installed({ type: 'apk', name: 'libcrypto3', sourceName: 'openssl', version: '3.1.4-r5' });
const libc6 = installed({ type: 'deb', name: 'libc6', sourceName: 'glibc', version: '2.36-9+deb12u4' });
const binNmu = installed({
  type: 'deb',
  name: 'libfoo1',
  sourceName: 'foo',
  version: '1.2-3+b1',
  sourceVersion: '1.2-3',
});

describe('parseEcosystem', () => {
  it.each([
    ['Alpine:v3.18', { base: 'Alpine', release: 'v3.18' }],
    ['Debian:12', { base: 'Debian', release: '12' }],
    ['Ubuntu:22.04:LTS', { base: 'Ubuntu', release: '22.04:LTS' }],
    ['Ubuntu:Pro:18.04:LTS', { base: 'Ubuntu', release: 'Pro:18.04:LTS' }],
    ['Red Hat:rhel_aus:8.6::appstream', { base: 'Red Hat', release: 'rhel_aus:8.6::appstream' }],
    ['Maven:https://maven.google.com', { base: 'Maven', release: 'https://maven.google.com' }],
    ['npm', { base: 'npm' }],
    ['Wolfi', { base: 'Wolfi' }],
    ['Debian:', { base: 'Debian' }],
  ])('%s', (ecosystem, expected) => {
    expect(parseEcosystem(ecosystem)).toEqual(expected);
  });
});

describe('normalizePackageName', () => {
  it('normalises PyPI names per PEP 503', () => {
    expect(normalizePackageName('PyPI', 'Foo.Bar_baz')).toBe('foo-bar-baz');
    expect(normalizePackageName('PyPI', 'Products.PluggableAuthService')).toBe(
      'products-pluggableauthservice',
    );
    expect(normalizePackageName('PyPI', 'friendly--_.bard')).toBe('friendly-bard');
    expect(normalizePackageName('PyPI', 'Gradio')).toBe('gradio');
  });

  it('keeps npm names case-sensitive and leaves other ecosystems alone', () => {
    expect(normalizePackageName('npm', 'JSONStream')).toBe('JSONStream');
    expect(normalizePackageName('npm', '@Scope/Pkg_name')).toBe('@Scope/Pkg_name');
    expect(normalizePackageName('Alpine', 'py3-Foo_bar')).toBe('py3-Foo_bar');
    expect(normalizePackageName('Maven', 'com.typesafe.akka:akka-actor_2.12')).toBe(
      'com.typesafe.akka:akka-actor_2.12',
    );
  });
});

describe('osvKeysFor', () => {
  it('looks Alpine packages up by origin under Alpine:v<major>.<minor>', () => {
    expect(osvKeysFor(libcrypto, distro('alpine', { versionId: '3.19.1' }))).toEqual([
      { ecosystem: 'Alpine:v3.19', name: 'openssl', version: '3.1.4-r5' },
    ]);
    expect(osvKeysFor(libcrypto, distro('alpine', { versionId: '3.20.0_alpha20240329' }))).toEqual([
      { ecosystem: 'Alpine:v3.20', name: 'openssl', version: '3.1.4-r5' },
    ]);
    const musl = installed({ type: 'apk', name: 'musl', version: '1.2.4-r2' });
    expect(osvKeysFor(musl, distro('alpine', { versionId: '3.18.4' }))).toEqual([
      { ecosystem: 'Alpine:v3.18', name: 'musl', version: '1.2.4-r2' },
    ]);
  });

  it('falls back to bare Alpine when the release is unknown', () => {
    expect(osvKeysFor(libcrypto, distro('alpine'))).toEqual([
      { ecosystem: 'Alpine', name: 'openssl', version: '3.1.4-r5' },
    ]);
    expect(osvKeysFor(libcrypto, undefined)).toEqual([
      { ecosystem: 'Alpine', name: 'openssl', version: '3.1.4-r5' },
    ]);
    expect(
      osvKeysFor(libcrypto, distro('postmarketos', { versionId: 'v23.12', idLike: ['alpine'] })),
    ).toEqual([{ ecosystem: 'Alpine', name: 'openssl', version: '3.1.4-r5' }]);
  });

  it('uses Wolfi and Chainguard without a release', () => {
    expect(osvKeysFor(libcrypto, distro('wolfi', { versionId: '20230201' }))).toEqual([
      { ecosystem: 'Wolfi', name: 'openssl', version: '3.1.4-r5' },
    ]);
    expect(osvKeysFor(libcrypto, distro('chainguard'))).toEqual([
      { ecosystem: 'Chainguard', name: 'openssl', version: '3.1.4-r5' },
    ]);
  });

  it('looks Debian packages up by source name and version, scoped and unscoped', () => {
    expect(osvKeysFor(libc6, distro('debian', { versionId: '12', codename: 'bookworm' }))).toEqual([
      { ecosystem: 'Debian:12', name: 'glibc', version: '2.36-9+deb12u4' },
      { ecosystem: 'Debian', name: 'glibc', version: '2.36-9+deb12u4' },
    ]);
    expect(osvKeysFor(binNmu, distro('debian', { versionId: '11' }))).toEqual([
      { ecosystem: 'Debian:11', name: 'foo', version: '1.2-3' },
      { ecosystem: 'Debian', name: 'foo', version: '1.2-3' },
    ]);
    const bash = installed({ type: 'deb', name: 'bash', version: '5.2.15-2+b2' });
    expect(osvKeysFor(bash, distro('debian', { versionId: '12' }))[0]).toEqual({
      ecosystem: 'Debian:12',
      name: 'bash',
      version: '5.2.15-2+b2',
    });
  });

  it('derives the Debian release from the codename when VERSION_ID is absent', () => {
    const keys = (codename?: string) =>
      osvKeysFor(libc6, distro('debian', codename ? { codename } : {})).map((key) => key.ecosystem);
    expect(keys('trixie')).toEqual(['Debian:13', 'Debian']);
    expect(keys('sid')).toEqual(['Debian:sid', 'Debian']);
    expect(keys('someday')).toEqual(['Debian']);
    expect(keys()).toEqual(['Debian']);
  });

  it('uses the Ubuntu release with :LTS and the Pro form for LTS releases', () => {
    const ecosystems = (fields: Partial<Distro>) =>
      osvKeysFor(libc6, distro('ubuntu', fields)).map((key) => key.ecosystem);
    expect(ecosystems({ versionId: '22.04', prettyName: 'Ubuntu 22.04.4 LTS' })).toEqual([
      'Ubuntu:22.04:LTS',
      'Ubuntu:Pro:22.04:LTS',
    ]);
    expect(ecosystems({ versionId: '24.04' })).toEqual(['Ubuntu:24.04:LTS', 'Ubuntu:Pro:24.04:LTS']);
    expect(ecosystems({ versionId: '23.10', prettyName: 'Ubuntu 23.10' })).toEqual(['Ubuntu:23.10']);
    expect(ecosystems({ versionId: '21.04' })).toEqual(['Ubuntu:21.04']);
    expect(ecosystems({})).toEqual(['Ubuntu']);
    expect(osvKeysFor(libc6, distro('ubuntu', { versionId: '22.04' }))[0]).toEqual({
      ecosystem: 'Ubuntu:22.04:LTS',
      name: 'glibc',
      version: '2.36-9+deb12u4',
    });
  });

  it('uses the bare family for deb packages on other distributions', () => {
    const ecosystems = (d: Distro | undefined) => osvKeysFor(libc6, d).map((key) => key.ecosystem);
    expect(ecosystems(undefined)).toEqual(['Debian']);
    expect(ecosystems(distro('kali', { versionId: '2024.1', idLike: ['debian'] }))).toEqual(['Debian']);
    expect(ecosystems(distro('linuxmint', { versionId: '21.3', idLike: ['ubuntu', 'debian'] }))).toEqual([
      'Ubuntu',
    ]);
  });

  it('uses npm names as they are and PyPI names normalised, whatever the distro', () => {
    const npm = installed({ type: 'npm', name: '@Babel/Core', version: '7.24.0' });
    expect(osvKeysFor(npm, distro('alpine', { versionId: '3.19.1' }))).toEqual([
      { ecosystem: 'npm', name: '@Babel/Core', version: '7.24.0' },
    ]);
    const pypi = installed({ type: 'pypi', name: 'Foo.Bar_baz', version: '1.0.post1' });
    expect(osvKeysFor(pypi, distro('debian', { versionId: '12' }))).toEqual([
      { ecosystem: 'PyPI', name: 'foo-bar-baz', version: '1.0.post1' },
    ]);
  });
});

describe('ecosystemKeyOf', () => {
  it('files records under the key installed packages are looked up by', () => {
    const url = new URL('../../../test/fixtures/osv/ghsa--pypi_normalize.osv.json', import.meta.url);
    const record = parseOsvRecord(JSON.parse(readFileSync(url, 'utf8')));
    const stored = ecosystemKeyOf(record.affected[0]!.package!);
    const pkg = installed({ type: 'pypi', name: 'Products.PluggableAuthService', version: '2.6.0' });
    const [lookup] = osvKeysFor(pkg, undefined);
    expect(stored).toEqual({ ecosystem: 'PyPI', name: 'products-pluggableauthservice' });
    expect({ ecosystem: lookup!.ecosystem, name: lookup!.name }).toEqual(stored);
  });

  it('normalises an unnormalised PyPI record name and leaves others exact', () => {
    expect(ecosystemKeyOf({ ecosystem: 'PyPI', name: 'Gradio' })).toEqual({
      ecosystem: 'PyPI',
      name: 'gradio',
    });
    expect(ecosystemKeyOf({ ecosystem: 'Alpine:v3.8', name: 'openssl' })).toEqual({
      ecosystem: 'Alpine:v3.8',
      name: 'openssl',
    });
    expect(ecosystemKeyOf({ ecosystem: 'npm', name: 'JSONStream' })).toEqual({
      ecosystem: 'npm',
      name: 'JSONStream',
    });
  });

  it('matches the Alpine fixture for an Alpine 3.8 image', () => {
    const url = new URL('../../../test/fixtures/osv/osv-linter--CVE-2018-5407.json', import.meta.url);
    const record = parseOsvRecord(JSON.parse(readFileSync(url, 'utf8')));
    const stored = record.affected.flatMap((entry) => (entry.package ? [ecosystemKeyOf(entry.package)] : []));
    const [lookup] = osvKeysFor(libcrypto, distro('alpine', { versionId: '3.8.5' }));
    expect(stored).toContainEqual({ ecosystem: lookup!.ecosystem, name: lookup!.name });
  });
});
