// The OSV ecosystem to version-scheme mapping.
import { describe, expect, it } from 'vitest';
import { apkVersions } from './apk.js';
import { dpkgVersions } from './dpkg.js';
import { pep440Versions } from './pep440.js';
import { versionSchemeFor } from './schemes.js';
import { semverVersions } from './semver.js';

describe('versionSchemeFor', () => {
  it.each([
    ['Alpine', apkVersions],
    ['Alpine:v3.18', apkVersions],
    ['Wolfi', apkVersions],
    ['Chainguard', apkVersions],
    ['Debian', dpkgVersions],
    ['Debian:12', dpkgVersions],
    ['Ubuntu', dpkgVersions],
    ['Ubuntu:22.04:LTS', dpkgVersions],
    ['Ubuntu:Pro:18.04:LTS', dpkgVersions],
    ['npm', semverVersions],
    ['PyPI', pep440Versions],
  ])('%s uses its scheme', (ecosystem, scheme) => {
    expect(versionSchemeFor(ecosystem)).toBe(scheme);
  });

  it.each([
    'Go',
    'Maven',
    'RubyGems',
    'Red Hat:rhel_aus:8.6::appstream',
    'pypi',
    'NPM',
    'alpine',
    '',
    'Root:Alpine:3.18',
  ])('%j has none', (ecosystem) => {
    expect(versionSchemeFor(ecosystem)).toBeUndefined();
  });
});
