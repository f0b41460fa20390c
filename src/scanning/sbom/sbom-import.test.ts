// Reading pushed SBOMs: syft's SPDX and CycloneDX fixtures, our own documents back to the same
// packages, and documents that are not SBOMs at all or are too large.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { InstalledPackage } from '../packages/package.js';
import { analysisFailure } from '../packages/test-file-set.js';
import { toCycloneDx } from './cyclonedx.js';
import { normaliseSpdxExpression, splitTopLevelAnd } from './license-expression.js';
import {
  CYCLONEDX_JSON_MEDIA_TYPE,
  SPDX_JSON_MEDIA_TYPE,
  distroFromPurls,
  inventoryFromSbom,
  packagesFromSbom,
} from './sbom-import.js';
import { toSpdx } from './spdx.js';
import { alpineInput, debianInput } from './test-sbom-input.js';

function syftFixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../../test/fixtures/sbom/${name}`, import.meta.url), 'utf8'));
}

/** What a package looks like after a trip through an SBOM: normalised licences split into conjuncts. */
function afterRoundTrip(pkg: InstalledPackage, location: string): InstalledPackage {
  const licenses = pkg.licenses.flatMap((text) => {
    const expression = normaliseSpdxExpression(text);
    return expression === undefined ? [text] : splitTopLevelAnd(expression);
  });
  const copy: InstalledPackage = { ...pkg, licenses: [...new Set(licenses)], location };
  delete copy.files;
  return copy;
}

describe('packagesFromSbom with syft documents', () => {
  it('reads apk packages from an SPDX 2.2 document', () => {
    const inventory = inventoryFromSbom(syftFixture('syft-alpine-3.10.spdx.json'), SPDX_JSON_MEDIA_TYPE);
    expect(inventory.distro).toEqual({ id: 'alpine', versionId: '3.10.9', idLike: [] });
    expect(inventory.packages).toEqual([
      {
        type: 'apk',
        name: 'busybox',
        version: '1.30.1-r5',
        arch: 'x86_64',
        licenses: ['GPL-2.0'],
        supplier: 'Natanael Copa <ncopa@alpinelinux.org>',
        location: '',
        purl: 'pkg:apk/alpine/busybox@1.30.1-r5?arch=x86_64&distro=alpine-3.10.9',
      },
      {
        type: 'apk',
        name: 'libssl1.1',
        version: '1.1.1k-r0',
        arch: 'x86_64',
        licenses: ['OpenSSL'],
        supplier: 'Timo Teras <timo.teras@iki.fi>',
        location: '',
        purl: 'pkg:apk/alpine/libssl1.1@1.1.1k-r0?arch=x86_64&distro=alpine-3.10.9',
      },
      {
        type: 'apk',
        name: 'ssl_client',
        version: '1.30.1-r5',
        sourceName: 'busybox',
        arch: 'x86_64',
        licenses: ['GPL-2.0'],
        supplier: 'Natanael Copa <ncopa@alpinelinux.org>',
        location: '',
        purl: 'pkg:apk/alpine/ssl_client@1.30.1-r5?arch=x86_64&distro=alpine-3.10.9&upstream=busybox',
      },
    ]);
  });

  it('reads deb packages from CycloneDX, skipping invalid purls and unsupported types', () => {
    const document = syftFixture('syft-TestCycloneDxImageEncoder.golden.cdx.json');
    const inventory = inventoryFromSbom(document, `${CYCLONEDX_JSON_MEDIA_TYPE}; version=1.7`);
    expect(inventory.packages).toEqual([
      {
        type: 'deb',
        name: 'package-2',
        version: '2.0.1',
        licenses: [],
        location: 'somefile-2.txt',
        purl: 'pkg:deb/debian/package-2@2.0.1',
      },
    ]);
    expect(inventory.distro).toEqual({ id: 'debian', versionId: '1.2.3', prettyName: 'debian', idLike: [] });
    expect(packagesFromSbom(syftFixture('syft-identify-1.6.cdx.json'), CYCLONEDX_JSON_MEDIA_TYPE)).toEqual(
      [],
    );
    expect(packagesFromSbom(syftFixture('syft-identify-2.3.spdx.json'), SPDX_JSON_MEDIA_TYPE)).toEqual([]);
  });
});

describe('packagesFromSbom with our own documents', () => {
  for (const [name, makeInput] of [
    ['debian', debianInput],
    ['alpine', alpineInput],
  ] as const) {
    it(`reads back the ${name} packages from SPDX (location from the caller)`, () => {
      const input = makeInput();
      const read = packagesFromSbom(JSON.parse(JSON.stringify(toSpdx(input))), SPDX_JSON_MEDIA_TYPE, {
        location: 'sbom',
      });
      expect(read).toEqual(input.inventory.packages.map((pkg) => afterRoundTrip(pkg, 'sbom')));
    });

    it(`reads back the ${name} packages and distro from CycloneDX`, () => {
      const input = makeInput();
      const inventory = inventoryFromSbom(
        JSON.parse(JSON.stringify(toCycloneDx(input))),
        CYCLONEDX_JSON_MEDIA_TYPE,
      );
      expect(inventory.packages).toEqual(
        input.inventory.packages.map((pkg) => afterRoundTrip(pkg, pkg.location)),
      );
      expect(inventory.distro).toEqual(input.inventory.distro);
    });
  }
});

describe('packagesFromSbom with documents that are not SBOMs', () => {
  const spdx = (extra: object) => ({ spdxVersion: 'SPDX-2.3', SPDXID: 'SPDXRef-DOCUMENT', ...extra });
  const cdx = (extra: object) => ({ bomFormat: 'CycloneDX', specVersion: '1.5', ...extra });

  it('fails with a clear message', () => {
    const cases: [unknown, string, string][] = [
      [[1, 2], SPDX_JSON_MEDIA_TYPE, 'is not a JSON object'],
      [{ hello: 'world' }, SPDX_JSON_MEDIA_TYPE, 'no spdxVersion'],
      [{ spdxVersion: 'SPDX-3.0' }, SPDX_JSON_MEDIA_TYPE, 'only SPDX 2.x'],
      [spdx({}), CYCLONEDX_JSON_MEDIA_TYPE, 'bomFormat'],
      [cdx({ specVersion: '2.0' }), CYCLONEDX_JSON_MEDIA_TYPE, 'only 1.x'],
      [spdx({}), 'application/json', 'neither SPDX nor CycloneDX'],
      [spdx({ packages: {} }), SPDX_JSON_MEDIA_TYPE, 'packages is not an array'],
      [spdx({ packages: [null] }), SPDX_JSON_MEDIA_TYPE, 'packages[0] is not an object'],
      [
        cdx({ components: [{ components: 'x' }] }),
        CYCLONEDX_JSON_MEDIA_TYPE,
        'components[0].components is not an array',
      ],
    ];
    for (const [document, mediaType, message] of cases) {
      const error = analysisFailure(() => packagesFromSbom(document, mediaType));
      expect(error.reason).toBe('malformed-database');
      expect(error.message).toContain(message);
    }
  });

  it('bounds the number of entries and the nesting of components', () => {
    const many = cdx({ components: Array.from({ length: 3 }, () => ({ type: 'library', name: 'x' })) });
    const error = analysisFailure(() =>
      packagesFromSbom(many, CYCLONEDX_JSON_MEDIA_TYPE, { maxPackages: 2 }),
    );
    expect(error.reason).toBe('database-too-large');
    let nested: object = { type: 'library', name: 'leaf' };
    for (let i = 0; i < 40; i++) nested = { type: 'library', name: `n${i}`, components: [nested] };
    const deep = analysisFailure(() =>
      packagesFromSbom(cdx({ components: [nested] }), CYCLONEDX_JSON_MEDIA_TYPE),
    );
    expect(deep.message).toContain('deeper than');
  });

  it('skips entries whose purl is unusable and keeps the rest', () => {
    const document = cdx({
      components: [
        { type: 'library', name: 'a', purl: 'pkg:npm/a' },
        { type: 'library', name: 'b', purl: 'pkg:maven/org.x/b@1' },
        { type: 'library', name: 'c', purl: 'not a purl' },
        { type: 'library', name: 'd', purl: `pkg:npm/d@${'1'.repeat(5000)}` },
        { type: 'library', name: 'e', purl: 'pkg:npm/e@1%0A2' },
        {
          type: 'library',
          name: 'Flask',
          purl: 'pkg:pypi/flask@3.0.0',
          licenses: [{ license: { id: 'BSD-3-Clause' } }],
        },
      ],
    });
    expect(packagesFromSbom(document, CYCLONEDX_JSON_MEDIA_TYPE)).toEqual([
      {
        type: 'pypi',
        name: 'Flask',
        version: '3.0.0',
        licenses: ['BSD-3-Clause'],
        location: '',
        purl: 'pkg:pypi/flask@3.0.0',
      },
    ]);
  });
});

describe('distroFromPurls', () => {
  it('takes the most common distro qualifier', () => {
    expect(
      distroFromPurls([
        'pkg:deb/debian/a@1?distro=debian-12',
        'pkg:deb/debian/b@1?distro=debian-12',
        'pkg:deb/debian/c@1?distro=debian-11',
        'pkg:npm/x@1',
      ]),
    ).toEqual({ id: 'debian', versionId: '12', idLike: [] });
    expect(distroFromPurls(['pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie'])).toEqual({
      id: 'debian',
      codename: 'jessie',
      idLike: [],
    });
    expect(distroFromPurls(['pkg:apk/wolfi/glibc@2.39-r1?distro=wolfi'])).toEqual({
      id: 'wolfi',
      idLike: [],
    });
    expect(distroFromPurls(['pkg:npm/x@1'])).toBeUndefined();
  });
});
