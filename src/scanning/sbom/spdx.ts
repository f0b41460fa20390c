// SPDX 2.3 JSON for an analysed image: the image is the described package, it CONTAINS its
// operating system and every catalogued package. Deterministic for a given input (content-derived
// SPDX ids, sorted packages, a namespace derived from repository and digest) so that the same image
// always yields the same bytes.
import type { Distro, InstalledPackage } from '../packages/package.js';
import type { SbomInput } from './sbom-input.js';
import { SPDX_LICENSE_LIST_VERSION } from './spdx-license-list.js';
import {
  type DeclaredLicense,
  declaredLicenses,
  definedFields,
  digestChecksum,
  documentNamespace,
  orderedPackages,
  packageContentId,
  sbomTimestamp,
} from './sbom-support.js';

const DOCUMENT_ID = 'SPDXRef-DOCUMENT';
const IMAGE_ID = 'SPDXRef-Image';
const OS_ID = 'SPDXRef-OperatingSystem';
const NOASSERTION = 'NOASSERTION';

export interface SpdxRelationship {
  spdxElementId: string;
  relationshipType: 'DESCRIBES' | 'CONTAINS';
  relatedSpdxElement: string;
}

export interface SpdxExtractedLicense {
  licenseId: string;
  extractedText: string;
  name: string;
}

export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: string;
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[]; licenseListVersion: string };
  packages: Record<string, unknown>[];
  relationships: SpdxRelationship[];
  hasExtractedLicensingInfos?: SpdxExtractedLicense[];
}

/** Characters SPDX ids may hold: letters, digits, `.` and `-`. */
function idPart(text: string): string {
  return text.replace(/[^A-Za-z0-9.-]+/g, '-').slice(0, 64);
}

export function packageSpdxId(pkg: InstalledPackage): string {
  return `SPDXRef-Package-${pkg.type}-${idPart(pkg.name)}-${packageContentId(pkg)}`;
}

/** `Person: Name (email)` from the `Name <email>` form package databases use. */
export function spdxSupplier(supplier: string): string {
  const match = /^([^<>()]*?)\s*<([^<>()\s]+)>$/.exec(supplier);
  return match ? `Person: ${match[1]} (${match[2]})` : `Person: ${supplier}`;
}

/** One expression for all declared licences: each normalised or a LicenseRef, joined by AND. */
export function spdxLicenseDeclared(licenses: DeclaredLicense[]): string {
  if (licenses.length === 0) return NOASSERTION;
  const terms = [...new Set(licenses.map((license) => license.expression ?? license.licenseRef!))];
  if (terms.length === 1) return terms[0]!;
  return terms.map((term) => (term.includes(' OR ') ? `(${term})` : term)).join(' AND ');
}

function sourceInfo(pkg: InstalledPackage): string | undefined {
  const parts = pkg.location ? [`recorded in /${pkg.location}`] : [];
  if (pkg.sourceName || pkg.sourceVersion) {
    parts.push(`built from source package ${pkg.sourceName ?? pkg.name} ${pkg.sourceVersion ?? pkg.version}`);
  }
  return parts.join('; ') || undefined;
}

function spdxPackage(pkg: InstalledPackage, licenses: DeclaredLicense[]): Record<string, unknown> {
  return definedFields({
    name: pkg.name,
    SPDXID: packageSpdxId(pkg),
    versionInfo: pkg.version,
    supplier: pkg.supplier && spdxSupplier(pkg.supplier),
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    sourceInfo: sourceInfo(pkg),
    licenseConcluded: NOASSERTION,
    licenseDeclared: spdxLicenseDeclared(licenses),
    copyrightText: NOASSERTION,
    externalRefs: [
      { referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: pkg.purl },
    ],
    primaryPackagePurpose: 'LIBRARY',
  });
}

function imagePackage(input: SbomInput): Record<string, unknown> {
  const { repository, digest, reference } = input.image;
  const checksum = digestChecksum(digest);
  return definedFields({
    name: repository,
    SPDXID: IMAGE_ID,
    versionInfo: digest,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    checksums: checksum && [{ algorithm: checksum.algorithm, checksumValue: checksum.hex }],
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    comment: reference && `pushed as ${repository}:${reference}`,
    primaryPackagePurpose: 'CONTAINER',
  });
}

function osPackage(distro: Distro): Record<string, unknown> {
  return definedFields({
    name: distro.id,
    SPDXID: OS_ID,
    versionInfo: distro.versionId,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    description: distro.prettyName,
    // SPDX 2.3 JSON spells the purpose with an underscore (the tag-value form is OPERATING-SYSTEM).
    primaryPackagePurpose: 'OPERATING_SYSTEM',
  });
}

function extractedLicenses(all: DeclaredLicense[]): SpdxExtractedLicense[] {
  const byId = new Map<string, SpdxExtractedLicense>();
  for (const license of all) {
    if (license.licenseRef && !byId.has(license.licenseRef)) {
      byId.set(license.licenseRef, {
        licenseId: license.licenseRef,
        extractedText: license.text,
        name: license.text,
      });
    }
  }
  return [...byId.values()].sort((a, b) =>
    a.licenseId < b.licenseId ? -1 : a.licenseId > b.licenseId ? 1 : 0,
  );
}

export function toSpdx(input: SbomInput): SpdxDocument {
  const packages = orderedPackages(input);
  const licenses = packages.map(declaredLicenses);
  const distro = input.inventory.distro;
  const relationships: SpdxRelationship[] = [
    { spdxElementId: DOCUMENT_ID, relationshipType: 'DESCRIBES', relatedSpdxElement: IMAGE_ID },
  ];
  if (distro)
    relationships.push({ spdxElementId: IMAGE_ID, relationshipType: 'CONTAINS', relatedSpdxElement: OS_ID });
  for (const pkg of packages) {
    relationships.push({
      spdxElementId: IMAGE_ID,
      relationshipType: 'CONTAINS',
      relatedSpdxElement: packageSpdxId(pkg),
    });
  }
  const document: SpdxDocument = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: DOCUMENT_ID,
    name: `${input.image.repository}@${input.image.digest}`,
    documentNamespace: documentNamespace(input),
    creationInfo: {
      created: sbomTimestamp(input.created),
      creators: [`Tool: ${input.tool.name}-${input.tool.version}`],
      licenseListVersion: SPDX_LICENSE_LIST_VERSION,
    },
    packages: [
      imagePackage(input),
      ...(distro ? [osPackage(distro)] : []),
      ...packages.map((pkg, i) => spdxPackage(pkg, licenses[i]!)),
    ],
    relationships,
  };
  const extracted = extractedLicenses(licenses.flat());
  if (extracted.length > 0) document.hasExtractedLicensingInfos = extracted;
  return document;
}
