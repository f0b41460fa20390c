// The CycloneDX writer: valid against the official 1.5 schema (with its SPDX and JSF schemas),
// deterministic down to the serial number, image as metadata.component, unique bom-refs.
import { PackageURL } from 'packageurl-js';
import { describe, expect, it } from 'vitest';
import { cycloneDxLicenses, toCycloneDx } from './cyclonedx.js';
import { alpineInput, cycloneDxValidator, debianInput } from './test-sbom-input.js';

type Component = { type: string; 'bom-ref': string; name: string; purl?: string; licenses?: unknown };

describe('toCycloneDx', () => {
  const validate = cycloneDxValidator();

  it('validates against the CycloneDX 1.5 JSON schema', () => {
    for (const input of [debianInput(), alpineInput()]) {
      const valid = validate(toCycloneDx(input));
      expect(validate.errors ?? []).toEqual([]);
      expect(valid).toBe(true);
    }
    expect(validate({ ...toCycloneDx(alpineInput()), serialNumber: 'not-a-urn' })).toBe(false);
  });

  it('is byte-identical for the same input, serial number included', () => {
    const input = debianInput();
    const shuffled = {
      ...input,
      inventory: { ...input.inventory, packages: [...input.inventory.packages].reverse() },
    };
    expect(JSON.stringify(toCycloneDx(shuffled))).toBe(JSON.stringify(toCycloneDx(debianInput())));
    const doc = toCycloneDx(input);
    expect(doc.serialNumber).toMatch(
      /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(toCycloneDx(alpineInput()).serialNumber).not.toBe(doc.serialNumber);
    expect(doc.metadata.timestamp).toBe('2024-05-01T12:34:56Z');
  });

  it('makes the image the metadata component and depends it on the OS and every package', () => {
    const doc = toCycloneDx(debianInput());
    expect(doc.metadata.component).toEqual({
      type: 'container',
      'bom-ref': `image:team/app@sha256:${'ab'.repeat(32)}`,
      name: 'team/app',
      version: `sha256:${'ab'.repeat(32)}`,
      hashes: [{ alg: 'SHA-256', content: 'ab'.repeat(32) }],
      properties: [{ name: 'palisade:image:reference', value: 'v1.2.3' }],
    });
    const [os, ...packages] = doc.components as Component[];
    expect(os).toEqual({
      type: 'operating-system',
      'bom-ref': 'os:debian@12',
      name: 'debian',
      version: '12',
      description: 'Debian GNU/Linux 12 (bookworm)',
      properties: [{ name: 'palisade:distro:codename', value: 'bookworm' }],
    });
    expect(doc.dependencies).toEqual([
      {
        ref: doc.metadata.component['bom-ref'],
        dependsOn: ['os:debian@12', ...packages.map((c) => c['bom-ref'])],
      },
    ]);
  });

  it('writes full components, with unique bom-refs when two packages share a purl', () => {
    const doc = toCycloneDx(debianInput());
    const components = doc.components as Component[];
    expect(components.find((c) => c.name === 'libselinux1')).toEqual({
      type: 'library',
      'bom-ref':
        'pkg:deb/debian/libselinux1@3.4-1+b6?arch=arm64&distro=debian-12&upstream=libselinux%403.4-1',
      supplier: { name: 'Debian SELinux maintainers <selinux-devel@lists.alioth.debian.org>' },
      name: 'libselinux1',
      version: '3.4-1+b6',
      purl: 'pkg:deb/debian/libselinux1@3.4-1+b6?arch=arm64&distro=debian-12&upstream=libselinux%403.4-1',
      properties: [
        { name: 'palisade:package:location', value: 'var/lib/dpkg/status' },
        { name: 'palisade:package:sourceName', value: 'libselinux' },
        { name: 'palisade:package:sourceVersion', value: '3.4-1' },
        { name: 'palisade:package:arch', value: 'arm64' },
      ],
    });
    const debug = components.filter((c) => c.purl === 'pkg:npm/debug@4.3.4');
    expect(debug.map((c) => c['bom-ref'])).toEqual([
      expect.stringMatching(/^pkg:npm\/debug@4\.3\.4\?package-id=[0-9a-f]{16}$/),
      expect.stringMatching(/^pkg:npm\/debug@4\.3\.4\?package-id=[0-9a-f]{16}$/),
    ]);
    const refs = components.map((c) => c['bom-ref']);
    expect(new Set(refs).size).toBe(refs.length);
    for (const c of components) if (c.purl) expect(PackageURL.fromString(c.purl).toString()).toBe(c.purl);
  });

  it('writes licences as an id, one expression, or names', () => {
    const doc = toCycloneDx(debianInput());
    const byName = Object.fromEntries((doc.components as Component[]).map((c) => [c.name, c.licenses]));
    expect(byName['@babel/core']).toEqual([{ license: { id: 'MIT' } }]);
    expect(byName.weird).toEqual([{ license: { name: 'SEE LICENSE IN LICENSE.md' } }]);
    expect(byName.libacl1).toEqual([{ license: { name: 'GPL-2+' } }, { license: { id: 'LGPL-2.1+' } }]);
    expect(byName.coreutils).toBeUndefined();
    expect(
      cycloneDxLicenses([
        { text: 'MIT OR Zlib', expression: 'MIT OR Zlib' },
        { text: 'ISC', expression: 'ISC' },
      ]),
    ).toEqual([{ expression: '(MIT OR Zlib) AND ISC' }]);
    expect(cycloneDxLicenses([{ text: 'mit or zlib', expression: 'MIT OR Zlib' }])).toEqual([
      { expression: 'MIT OR Zlib' },
    ]);
  });
});
