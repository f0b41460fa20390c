// The npm catalogers: installed package.json files (scoped, nested, legacy licence shapes), lockfile
// entries standing in for packages that are not on disk, hostile manifests, and wants().
import { describe, expect, it } from 'vitest';
import {
  isNpmName,
  npmInstalledCataloger,
  npmLicenses,
  npmLockfileCataloger,
  wantsInstalledPackageJson,
  wantsLockfile,
} from './npm-packages.js';
import { analysisFailure, fileSetOf } from './test-file-set.js';

const npmCatalogers = [npmInstalledCataloger, npmLockfileCataloger];

function catalog(files: Record<string, Buffer | string | object>) {
  const contents = Object.fromEntries(
    Object.entries(files).map(([path, content]) => [
      path,
      typeof content === 'string' || Buffer.isBuffer(content) ? content : JSON.stringify(content),
    ]),
  );
  const set = fileSetOf(contents, npmCatalogers);
  return npmCatalogers.flatMap((cataloger) => cataloger.catalog(set, undefined));
}

describe('npmInstalledCataloger', () => {
  it('reads installed packages, scoped and nested, with licences and authors', () => {
    const packages = catalog({
      'app/node_modules/express/package.json': {
        name: 'express',
        version: '4.19.2',
        license: 'MIT',
        author: 'TJ Holowaychuk <tj@vision-media.ca>',
      },
      'app/node_modules/@babel/core/package.json': {
        name: '@babel/core',
        version: '7.24.0',
        license: { type: 'MIT', url: 'https://x' },
        author: { name: 'The Babel Team', email: 'team@babeljs.io' },
      },
      'app/node_modules/express/node_modules/debug/package.json': {
        name: 'debug',
        version: '2.6.9',
        licenses: [{ type: 'MIT' }, 'Apache-2.0'],
      },
      'app/node_modules/some-workspace/package.json': { name: 'some-workspace', private: true },
      'app/package.json': { name: 'app', version: '1.0.0' },
    });
    expect(packages).toEqual([
      {
        type: 'npm',
        name: '@babel/core',
        version: '7.24.0',
        licenses: ['MIT'],
        supplier: 'The Babel Team <team@babeljs.io>',
        location: 'app/node_modules/@babel/core/package.json',
        purl: 'pkg:npm/%40babel/core@7.24.0',
      },
      {
        type: 'npm',
        name: 'debug',
        version: '2.6.9',
        licenses: ['MIT', 'Apache-2.0'],
        location: 'app/node_modules/express/node_modules/debug/package.json',
        purl: 'pkg:npm/debug@2.6.9',
      },
      {
        type: 'npm',
        name: 'express',
        version: '4.19.2',
        licenses: ['MIT'],
        supplier: 'TJ Holowaychuk <tj@vision-media.ca>',
        location: 'app/node_modules/express/package.json',
        purl: 'pkg:npm/express@4.19.2',
      },
    ]);
  });

  it('takes the real package name from package.json (aliased installs) and tolerates a BOM', () => {
    const manifest = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(JSON.stringify({ name: 'string-width', version: '4.2.3' })),
    ]);
    const [pkg] = catalog({ 'node_modules/string-width-cjs/package.json': manifest });
    expect(pkg).toMatchObject({ name: 'string-width', purl: 'pkg:npm/string-width@4.2.3' });
  });

  it('skips manifests without a usable name or version', () => {
    const packages = catalog({
      'node_modules/a/package.json': { version: '1.0.0' },
      'node_modules/b/package.json': { name: 'b', version: 2 },
      'node_modules/c/package.json': { name: 'has space', version: '1.0.0' },
      'node_modules/d/package.json': { name: 'd', version: '1.0.0 || evil' },
      'node_modules/e/package.json': { name: 'e'.repeat(300), version: '1.0.0' },
    });
    expect(packages).toEqual([]);
  });

  it('fails on a package.json inside node_modules that is not a JSON object or not UTF-8', () => {
    for (const content of ['{"name": "x",', '[1, 2]', '"text"', `${'['.repeat(100)}${']'.repeat(100)}`]) {
      const error = analysisFailure(() => catalog({ 'node_modules/x/package.json': content }));
      expect(error.reason).toBe('malformed-database');
      expect(error.message).toContain('"node_modules/x/package.json"');
    }
    const error = analysisFailure(() =>
      catalog({ 'node_modules/x/package.json': Buffer.from([0x7b, 0xc3, 0x28, 0x7d]) }),
    );
    expect(error.reason).toBe('invalid-utf8');
  });

  it('reads npm licence shapes and drops unusable ones', () => {
    expect(npmLicenses({ license: '(MIT OR Apache-2.0)' })).toEqual(['(MIT OR Apache-2.0)']);
    expect(npmLicenses({ licenses: { type: 'BSD' } })).toEqual(['BSD']);
    expect(npmLicenses({ license: 42, licenses: [null, { type: 7 }, 'ISC', 'ISC'] })).toEqual(['ISC']);
    expect(npmLicenses({ license: 'x'.repeat(5000) })).toEqual([]);
  });

  it('accepts npm names, legacy upper case included, and rejects the rest', () => {
    for (const name of ['lodash', '@npmcli/arborist', 'JSONStream', 'left-pad', 'a.b_c~d'])
      expect(isNpmName(name)).toBe(true);
    for (const name of ['', '.bin', '_x', 'a/b', '@a/b/c', 'a b', 'x'.repeat(215), 'a\nb'])
      expect(isNpmName(name)).toBe(false);
  });
});

describe('npmLockfileCataloger', () => {
  const lockfile = {
    name: 'app',
    version: '1.0.0',
    lockfileVersion: 3,
    packages: {
      '': { name: 'app', version: '1.0.0' },
      'node_modules/express': { version: '4.19.2', license: 'MIT' },
      'node_modules/@types/node': { version: '20.11.0', dev: true, license: 'MIT' },
      'node_modules/fsevents': { version: '2.3.3', optional: true },
      'node_modules/express/node_modules/debug': { version: '2.6.9', license: 'MIT' },
      'node_modules/string-width-cjs': { name: 'string-width', version: '4.2.3', license: 'MIT' },
      'node_modules/workspace-a': { resolved: 'packages/a', link: true },
      'packages/a': { name: 'workspace-a', version: '0.0.1' },
      '../outside': { version: '1.0.0' },
    },
  };

  it('adds lockfile entries that are not installed, located at the lockfile', () => {
    const packages = catalog({
      'srv/app/package-lock.json': lockfile,
      'srv/app/node_modules/express/package.json': { name: 'express', version: '4.19.2', license: 'MIT' },
    });
    expect(packages.map((p) => [p.purl, p.location])).toEqual([
      ['pkg:npm/express@4.19.2', 'srv/app/node_modules/express/package.json'],
      ['pkg:npm/debug@2.6.9', 'srv/app/package-lock.json'],
      ['pkg:npm/string-width@4.2.3', 'srv/app/package-lock.json'],
    ]);
    expect(packages[1]!.licenses).toEqual(['MIT']);
  });

  it('yields nothing for a version 1 lockfile or one that is not JSON, but fails on one that is not UTF-8', () => {
    expect(
      catalog({ 'package-lock.json': { lockfileVersion: 1, dependencies: { a: { version: '1' } } } }),
    ).toEqual([]);
    const conflicted =
      '{\n<<<<<<< HEAD\n  "lockfileVersion": 3\n=======\n  "lockfileVersion": 2\n>>>>>>> main\n}\n';
    expect(catalog({ 'package-lock.json': conflicted })).toEqual([]);
    const notUtf8 = analysisFailure(() => catalog({ 'package-lock.json': Buffer.from([0x7b, 0xff, 0x7d]) }));
    expect(notUtf8.reason).toBe('invalid-utf8');
  });
});

describe('npm wants()', () => {
  it('wants installed package.json files only', () => {
    const wanted = [
      'usr/lib/node_modules/npm/node_modules/@npmcli/arborist/package.json',
      'node_modules/x/package.json',
      'app/node_modules/@scope/pkg/package.json',
      'app/node_modules/.pnpm/lodash@4.17.21/node_modules/lodash/package.json',
    ];
    const unwanted = [
      'node_modules/x/lib/package.json',
      'node_modules/@scope/package.json',
      'node_modules/package.json',
      'node_modules/.bin/package.json',
      'app/package.json',
      'node_modules/x/package.json.bak',
    ];
    for (const path of wanted) expect(wantsInstalledPackageJson(path), path).toBe(true);
    for (const path of unwanted) expect(wantsInstalledPackageJson(path), path).toBe(false);
  });

  it('wants application lockfiles, not those inside node_modules', () => {
    expect(wantsLockfile('package-lock.json')).toBe(true);
    expect(wantsLockfile('srv/app/package-lock.json')).toBe(true);
    expect(wantsLockfile('app/node_modules/.package-lock.json')).toBe(false);
    expect(wantsLockfile('app/node_modules/x/package-lock.json')).toBe(false);
    expect(wantsLockfile('app/my-package-lock.json')).toBe(false);
  });
});
