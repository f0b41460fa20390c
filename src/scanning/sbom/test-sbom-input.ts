// Test support: a realistic SbomInput built by cataloging fixture databases (Debian with npm and
// Python packages, and Alpine), plus the official schemas loaded into ajv. Excluded from the build.
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { catalogImage, catalogers } from '../packages/catalogers.js';
import { fileSetOf, fixture } from '../packages/test-file-set.js';
import type { SbomInput } from './sbom-input.js';

export function debianInput(): SbomInput {
  const files = fileSetOf(
    {
      'etc/os-release':
        'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
      'var/lib/dpkg/status': fixture('dpkg/syft-coreutils-relationships.status'),
      'usr/share/doc/libacl1/copyright':
        'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2+\n\nFiles: libacl/*\nLicense: LGPL-2.1+\n',
      'app/node_modules/@babel/core/package.json': JSON.stringify({
        name: '@babel/core',
        version: '7.24.0',
        license: 'mit',
      }),
      'app/node_modules/debug/package.json': JSON.stringify({
        name: 'debug',
        version: '4.3.4',
        license: '(MIT OR Apache-2.0)',
        author: 'Josh Junon <josh@junon.me>',
      }),
      'app/node_modules/express/node_modules/debug/package.json': JSON.stringify({
        name: 'debug',
        version: '4.3.4',
      }),
      'app/node_modules/weird/package.json': JSON.stringify({
        name: 'weird',
        version: '1.0.0',
        license: 'SEE LICENSE IN LICENSE.md',
      }),
      'usr/lib/python3/dist-packages/PyYAML-6.0.1.dist-info/METADATA':
        'Name: PyYAML\nVersion: 6.0.1\nLicense: MIT\nAuthor: Kirill Simonov\n',
    },
    catalogers,
  );
  return {
    image: { repository: 'team/app', digest: `sha256:${'ab'.repeat(32)}`, reference: 'v1.2.3' },
    inventory: catalogImage(files),
    created: new Date('2024-05-01T12:34:56.789Z'),
    tool: { name: 'palisade', version: '0.1.0' },
    namespaceBase: 'https://registry.example.com/sbom/',
  };
}

export function alpineInput(): SbomInput {
  const files = fileSetOf(
    {
      'etc/os-release':
        'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.16.2\nPRETTY_NAME="Alpine Linux v3.16"\n',
      'lib/apk/db/installed': fixture('apk/syft-multiple-2.installed'),
    },
    catalogers,
  );
  return {
    image: { repository: 'library/alpine', digest: `sha256:${'cd'.repeat(32)}` },
    inventory: catalogImage(files),
    created: new Date('2024-05-01T00:00:00Z'),
    tool: { name: 'palisade', version: '0.1.0' },
    namespaceBase: 'https://registry.example.com/sbom',
  };
}

function schema(name: string): object {
  return JSON.parse(
    readFileSync(new URL(`../../../test/fixtures/schemas/${name}`, import.meta.url), 'utf8'),
  ) as object;
}

function newAjv(strict: boolean): Ajv {
  const ajv = new Ajv({ strict, allErrors: true });
  // ajv-formats is CommonJS with a default export: under NodeNext the function sits on .default.
  (formats as unknown as { default: (a: Ajv) => void }).default(ajv);
  // CycloneDX uses iri-reference and idn-email, which ajv-formats lacks; our documents emit neither
  // field, so loose checks are enough to keep the schema compiling quietly.
  ajv.addFormat('iri-reference', /^\S*$/);
  ajv.addFormat('idn-email', /^[^\s@]+@[^\s@]+$/);
  return ajv;
}

export function spdxValidator(): ValidateFunction {
  return newAjv(true).compile(schema('spdx-2.3.schema.json'));
}

export function cycloneDxValidator(): ValidateFunction {
  // The CycloneDX schema needs strict: false: it lists "required" properties inside oneOf branches
  // that do not define them (ajv's strictRequired), which is valid JSON Schema.
  const ajv = newAjv(false);
  ajv.addSchema(schema('spdx.schema.json'));
  ajv.addSchema(schema('jsf-0.82.schema.json'));
  return ajv.compile(schema('cyclonedx-1.5.schema.json'));
}
