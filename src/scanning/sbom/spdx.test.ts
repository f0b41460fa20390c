// The SPDX writer: valid against the official SPDX 2.3 schema, deterministic, with the image as the
// described root, licences as valid expressions or LicenseRefs, and purls packageurl-js accepts.
import { PackageURL } from 'packageurl-js';
import { describe, expect, it } from 'vitest';
import { packageSpdxId, spdxLicenseDeclared, spdxSupplier, toSpdx } from './spdx.js';
import { alpineInput, debianInput, spdxValidator } from './test-sbom-input.js';

type Pkg = {
  SPDXID: string;
  name: string;
  licenseDeclared?: string;
  externalRefs?: { referenceLocator: string }[];
};

describe('toSpdx', () => {
  const validate = spdxValidator();

  it('validates against the SPDX 2.3 JSON schema', () => {
    for (const input of [debianInput(), alpineInput()]) {
      const valid = validate(toSpdx(input));
      expect(validate.errors ?? []).toEqual([]);
      expect(valid).toBe(true);
    }
    // The validator does bite: a package without SPDXID and downloadLocation is rejected.
    expect(validate({ ...toSpdx(alpineInput()), packages: [{ name: 'x' }] })).toBe(false);
  });

  it('is byte-identical for the same input', () => {
    expect(JSON.stringify(toSpdx(debianInput()))).toBe(JSON.stringify(toSpdx(debianInput())));
    const input = debianInput();
    const shuffled = {
      ...input,
      inventory: { ...input.inventory, packages: [...input.inventory.packages].reverse() },
    };
    expect(JSON.stringify(toSpdx(shuffled))).toBe(JSON.stringify(toSpdx(input)));
  });

  it('describes the image and relates it to the OS and every package', () => {
    const input = debianInput();
    const doc = toSpdx(input);
    expect(doc.documentNamespace).toBe(
      `https://registry.example.com/sbom/team/app@sha256:${'ab'.repeat(32)}`,
    );
    expect(doc.creationInfo).toEqual({
      created: '2024-05-01T12:34:56Z',
      creators: ['Tool: palisade-0.1.0'],
      licenseListVersion: '3.28',
    });
    const [image, os, ...packages] = doc.packages as Pkg[];
    expect(image).toMatchObject({
      SPDXID: 'SPDXRef-Image',
      name: 'team/app',
      versionInfo: `sha256:${'ab'.repeat(32)}`,
      checksums: [{ algorithm: 'SHA256', checksumValue: 'ab'.repeat(32) }],
      primaryPackagePurpose: 'CONTAINER',
      comment: 'pushed as team/app:v1.2.3',
    });
    expect(os).toMatchObject({
      SPDXID: 'SPDXRef-OperatingSystem',
      name: 'debian',
      versionInfo: '12',
      primaryPackagePurpose: 'OPERATING_SYSTEM',
    });
    expect(packages).toHaveLength(input.inventory.packages.length);
    expect(doc.relationships[0]).toEqual({
      spdxElementId: 'SPDXRef-DOCUMENT',
      relationshipType: 'DESCRIBES',
      relatedSpdxElement: 'SPDXRef-Image',
    });
    const contained = doc.relationships
      .filter((r) => r.relationshipType === 'CONTAINS')
      .map((r) => r.relatedSpdxElement);
    expect(contained).toEqual(['SPDXRef-OperatingSystem', ...packages.map((p) => p.SPDXID)]);
    expect(new Set(packages.map((p) => p.SPDXID)).size).toBe(packages.length);
  });

  it('writes full package records', () => {
    const doc = toSpdx(debianInput());
    const libacl = (doc.packages as Pkg[]).find((p) => p.name === 'libacl1');
    expect(libacl).toEqual({
      name: 'libacl1',
      SPDXID: expect.stringMatching(/^SPDXRef-Package-deb-libacl1-[0-9a-f]{16}$/),
      versionInfo: '2.3.1-3',
      supplier: 'Person: Guillem Jover (guillem@debian.org)',
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      sourceInfo: 'recorded in /var/lib/dpkg/status; built from source package acl 2.3.1-3',
      licenseConcluded: 'NOASSERTION',
      // GPL-2+ is Debian's short name, not an SPDX id; LGPL-2.1+ happens to be a (deprecated) one.
      licenseDeclared: expect.stringMatching(/^LicenseRef-GPL-2-[0-9a-f]{8} AND LGPL-2.1\+$/),
      copyrightText: 'NOASSERTION',
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: 'pkg:deb/debian/libacl1@2.3.1-3?arch=arm64&distro=debian-12&upstream=acl',
        },
      ],
      primaryPackagePurpose: 'LIBRARY',
    });
    const refs = doc.hasExtractedLicensingInfos!.map((info) => info.extractedText);
    expect(refs.sort()).toEqual(['GPL-2+', 'SEE LICENSE IN LICENSE.md']);
    const declared = Object.fromEntries((doc.packages as Pkg[]).map((p) => [p.name, p.licenseDeclared]));
    expect(declared['@babel/core']).toBe('MIT');
    expect(declared.PyYAML).toBe('MIT');
    expect(declared.coreutils).toBe('NOASSERTION');
  });

  it('writes purls packageurl-js parses back to the same string', () => {
    for (const input of [debianInput(), alpineInput()]) {
      for (const pkg of toSpdx(input).packages as Pkg[]) {
        for (const ref of pkg.externalRefs ?? []) {
          expect(PackageURL.fromString(ref.referenceLocator).toString()).toBe(ref.referenceLocator);
        }
      }
    }
  });

  it('has no OS package when the distribution is unknown', () => {
    const input = debianInput();
    delete input.inventory.distro;
    const doc = toSpdx(input);
    expect((doc.packages as Pkg[]).some((p) => p.SPDXID === 'SPDXRef-OperatingSystem')).toBe(false);
    expect(validate(doc)).toBe(true);
  });
});

describe('SPDX helpers', () => {
  it('formats suppliers and combines licences', () => {
    expect(spdxSupplier('Natanael Copa <ncopa@alpinelinux.org>')).toBe(
      'Person: Natanael Copa (ncopa@alpinelinux.org)',
    );
    expect(spdxSupplier('Laszlo Boszormenyi (GCS) <gcs@debian.org>')).toBe(
      'Person: Laszlo Boszormenyi (GCS) <gcs@debian.org>',
    );
    expect(spdxLicenseDeclared([])).toBe('NOASSERTION');
    expect(
      spdxLicenseDeclared([
        { text: 'MIT OR Zlib', expression: 'MIT OR Zlib' },
        { text: 'x y', licenseRef: 'LicenseRef-x-y-1' },
        { text: 'mit or zlib', expression: 'MIT OR Zlib' },
      ]),
    ).toBe('(MIT OR Zlib) AND LicenseRef-x-y-1');
  });

  it('derives package ids from content only', () => {
    const [pkg] = debianInput().inventory.packages;
    expect(packageSpdxId(pkg!)).toBe(packageSpdxId({ ...pkg! }));
    expect(packageSpdxId(pkg!)).not.toBe(packageSpdxId({ ...pkg!, location: 'elsewhere' }));
  });
});
