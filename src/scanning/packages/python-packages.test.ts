// The Python cataloger: wheel METADATA, egg-info directories and files, the header quirks of real
// metadata (folded licence texts, UNKNOWN), hostile bytes, and wants().
import { describe, expect, it } from 'vitest';
import { parseMetadataHeaders, pythonPackagesCataloger, wantsPythonMetadata } from './python-packages.js';
import { analysisFailure, fileSetOf } from './test-file-set.js';

const SITE = 'usr/local/lib/python3.12/site-packages';

function catalog(files: Record<string, Buffer | string>) {
  return pythonPackagesCataloger.catalog(fileSetOf(files, [pythonPackagesCataloger]), undefined);
}

const requestsMetadata = [
  'Metadata-Version: 2.1',
  'Name: requests',
  'Version: 2.31.0',
  'Summary: Python HTTP for Humans.',
  'Author: Kenneth Reitz',
  'Author-email: me@kennethreitz.org',
  'License: Apache 2.0',
  'Classifier: License :: OSI Approved :: Apache Software License',
  'Requires-Dist: charset-normalizer (<4,>=2)',
  '',
  '# Requests',
  'Name: not-a-header',
].join('\n');

describe('pythonPackagesCataloger', () => {
  it('reads dist-info, egg-info directories and egg-info files', () => {
    const packages = catalog({
      [`${SITE}/requests-2.31.0.dist-info/METADATA`]: requestsMetadata,
      [`${SITE}/requests-2.31.0.dist-info/RECORD`]: 'requests/__init__.py,,\n',
      'usr/lib/python3/dist-packages/Jinja2-3.1.2.egg-info/PKG-INFO':
        'Metadata-Version: 1.2\nName: Jinja2\nVersion: 3.1.2\nLicense: BSD-3-Clause\nAuthor: UNKNOWN\nMaintainer: Pallets\n',
      'usr/lib/python2.7/dist-packages/Zope.Interface_x-4.0.egg-info':
        'Metadata-Version: 1.0\r\nName: Zope.Interface_x\r\nVersion: 4.0\r\nLicense: UNKNOWN\r\n',
      [`${SITE}/attrs-23.2.0.dist-info/METADATA`]:
        'Metadata-Version: 2.4\nName: attrs\nVersion: 23.2.0\nLicense-Expression: MIT\nLicense: ignored\n',
    });
    expect(packages).toEqual([
      {
        type: 'pypi',
        name: 'Zope.Interface_x',
        version: '4.0',
        licenses: [],
        location: 'usr/lib/python2.7/dist-packages/Zope.Interface_x-4.0.egg-info',
        purl: 'pkg:pypi/zope-interface-x@4.0',
      },
      {
        type: 'pypi',
        name: 'Jinja2',
        version: '3.1.2',
        licenses: ['BSD-3-Clause'],
        supplier: 'Pallets',
        location: 'usr/lib/python3/dist-packages/Jinja2-3.1.2.egg-info/PKG-INFO',
        purl: 'pkg:pypi/jinja2@3.1.2',
      },
      {
        type: 'pypi',
        name: 'attrs',
        version: '23.2.0',
        licenses: ['MIT'],
        location: `${SITE}/attrs-23.2.0.dist-info/METADATA`,
        purl: 'pkg:pypi/attrs@23.2.0',
      },
      {
        type: 'pypi',
        name: 'requests',
        version: '2.31.0',
        licenses: ['Apache 2.0'],
        supplier: 'Kenneth Reitz',
        location: `${SITE}/requests-2.31.0.dist-info/METADATA`,
        purl: 'pkg:pypi/requests@2.31.0',
      },
    ]);
  });

  it('drops a licence that is a whole folded licence text', () => {
    const metadata =
      'Name: x\nVersion: 1\nLicense: Copyright (c) 2020\n        Permission is hereby granted\n';
    expect(catalog({ [`${SITE}/x-1.dist-info/METADATA`]: metadata })[0]!.licenses).toEqual([]);
  });

  it('stops at the first line that is not a header, as Python does', () => {
    const headers = parseMetadataHeaders('Name: a\nthis line is body\nVersion: 1\n');
    expect(headers.get('name')).toBe('a');
    expect(headers.has('version')).toBe(false);
  });

  it('skips metadata without a valid name or version', () => {
    const packages = catalog({
      [`${SITE}/a.dist-info/METADATA`]: 'Version: 1\n',
      [`${SITE}/b.dist-info/METADATA`]: 'Name: b\n',
      [`${SITE}/c.dist-info/METADATA`]: 'Name: bad name!\nVersion: 1\n',
      [`${SITE}/d.dist-info/METADATA`]: 'Name: d\nVersion: 1 2\n',
      [`${SITE}/e.dist-info/METADATA`]: '',
    });
    expect(packages).toEqual([]);
  });

  it('fails on metadata that is not UTF-8, naming the file', () => {
    const path = `${SITE}/x-1.dist-info/METADATA`;
    const error = analysisFailure(() =>
      catalog({ [path]: Buffer.from('Name: x\nAuthor: Jos\xe9\n', 'latin1') }),
    );
    expect(error.reason).toBe('invalid-utf8');
    expect(error.message).toContain(path);
  });

  it('reads only the headers of a huge long description', () => {
    const body = `${'x'.repeat(1024 * 1024)}\n`.repeat(4);
    const [pkg] = catalog({ [`${SITE}/big-1.dist-info/METADATA`]: `Name: big\nVersion: 1\n\n${body}` });
    expect(pkg!.name).toBe('big');
  });

  it('wants metadata files directly inside site-packages or dist-packages', () => {
    const wanted = [
      `${SITE}/requests-2.31.0.dist-info/METADATA`,
      'usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO',
      'usr/lib/python3/dist-packages/python_apt-2.4.0.egg-info',
      'opt/venv/lib/python3.11/site-packages/pip-24.0.dist-info/METADATA',
    ];
    const unwanted = [
      `${SITE}/requests-2.31.0.dist-info/RECORD`,
      `${SITE}/pkg/vendored/x-1.dist-info/METADATA`,
      'srv/app/x-1.dist-info/METADATA',
      `${SITE}/x.egg-info/SOURCES.txt`,
      `${SITE}/x.egg-info.bak`,
    ];
    for (const path of wanted) expect(wantsPythonMetadata(path), path).toBe(true);
    for (const path of unwanted) expect(wantsPythonMetadata(path), path).toBe(false);
  });
});
