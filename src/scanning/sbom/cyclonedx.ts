// CycloneDX 1.5 JSON for an analysed image: the image is metadata.component (a container with its
// digest), the distribution an operating-system component, every package a library component
// keyed by its purl. Deterministic for a given input so the same image always yields the same bytes.
import type { Distro, InstalledPackage } from '../packages/package.js';
import type { SbomInput } from './sbom-input.js';
import { isSingleLicenseId } from './license-expression.js';
import {
  type DeclaredLicense,
  declaredLicenses,
  definedFields,
  digestChecksum,
  orderedPackages,
  packageContentId,
  packageFacts,
  sbomTimestamp,
  serialNumber,
} from './sbom-support.js';

/** Namespace of the properties Palisade adds (CycloneDX property taxonomy style). */
export const PROPERTY_PREFIX = 'palisade:package:';

export interface CycloneDxProperty {
  name: string;
  value: string;
}

export type CycloneDxLicenses = { license: { id: string } | { name: string } }[] | [{ expression: string }];

export interface CycloneDxDocument {
  $schema: string;
  bomFormat: 'CycloneDX';
  specVersion: '1.5';
  serialNumber: string;
  version: 1;
  metadata: {
    timestamp: string;
    tools: { components: { type: 'application'; name: string; version: string }[] };
    component: Record<string, unknown>;
  };
  components: Record<string, unknown>[];
  dependencies: { ref: string; dependsOn: string[] }[];
}

/**
 * All valid expressions → one `expression` (AND-joined); otherwise one entry per licence: a listed
 * identifier as `id`, anything else by `name` (CycloneDX cannot mix the two forms).
 */
export function cycloneDxLicenses(licenses: DeclaredLicense[]): CycloneDxLicenses | undefined {
  if (licenses.length === 0) return undefined;
  const expressions = licenses.map((license) => license.expression);
  if (expressions.every((expression) => expression !== undefined)) {
    const unique = [...new Set(expressions)];
    if (unique.length === 1 && isSingleLicenseId(unique[0]!)) return [{ license: { id: unique[0]! } }];
    const joined =
      unique.length === 1 ? unique[0]! : unique.map((e) => (e.includes(' OR ') ? `(${e})` : e)).join(' AND ');
    return [{ expression: joined }];
  }
  return licenses.map((license) =>
    license.expression !== undefined && isSingleLicenseId(license.expression)
      ? { license: { id: license.expression } }
      : { license: { name: license.expression ?? license.text } },
  );
}

/** bom-refs: the purl, unless several packages share it; then each gets a content-derived package-id. */
function bomRefs(packages: InstalledPackage[]): string[] {
  const counts = new Map<string, number>();
  for (const pkg of packages) counts.set(pkg.purl, (counts.get(pkg.purl) ?? 0) + 1);
  return packages.map((pkg) => {
    if (counts.get(pkg.purl) === 1) return pkg.purl;
    const separator = pkg.purl.includes('?') ? '&' : '?';
    return `${pkg.purl}${separator}package-id=${packageContentId(pkg)}`;
  });
}

function packageComponent(pkg: InstalledPackage, bomRef: string): Record<string, unknown> {
  return definedFields({
    type: 'library',
    'bom-ref': bomRef,
    supplier: pkg.supplier && { name: pkg.supplier },
    name: pkg.name,
    version: pkg.version,
    licenses: cycloneDxLicenses(declaredLicenses(pkg)),
    purl: pkg.purl,
    properties: packageFacts(pkg).map(([name, value]) => ({ name: `${PROPERTY_PREFIX}${name}`, value })),
  });
}

export function osBomRef(distro: Distro): string {
  return `os:${distro.id}${distro.versionId ? `@${distro.versionId}` : ''}`;
}

function osComponent(distro: Distro): Record<string, unknown> {
  const properties: CycloneDxProperty[] = [];
  if (distro.codename) properties.push({ name: 'palisade:distro:codename', value: distro.codename });
  for (const like of distro.idLike) properties.push({ name: 'palisade:distro:idLike', value: like });
  return definedFields({
    type: 'operating-system',
    'bom-ref': osBomRef(distro),
    name: distro.id,
    version: distro.versionId,
    description: distro.prettyName,
    properties: properties.length > 0 ? properties : undefined,
  });
}

function imageComponent(input: SbomInput, bomRef: string): Record<string, unknown> {
  const { repository, digest, reference } = input.image;
  const checksum = digestChecksum(digest);
  return definedFields({
    type: 'container',
    'bom-ref': bomRef,
    name: repository,
    version: digest,
    hashes: checksum && [
      { alg: checksum.algorithm === 'SHA256' ? 'SHA-256' : 'SHA-512', content: checksum.hex },
    ],
    properties: reference ? [{ name: 'palisade:image:reference', value: reference }] : undefined,
  });
}

export function toCycloneDx(input: SbomInput): CycloneDxDocument {
  const packages = orderedPackages(input);
  const refs = bomRefs(packages);
  const distro = input.inventory.distro;
  const imageRef = `image:${input.image.repository}@${input.image.digest}`;
  const components = packages.map((pkg, i) => packageComponent(pkg, refs[i]!));
  if (distro) components.unshift(osComponent(distro));
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.5.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: serialNumber(input),
    version: 1,
    metadata: {
      timestamp: sbomTimestamp(input.created),
      tools: { components: [{ type: 'application', name: input.tool.name, version: input.tool.version }] },
      component: imageComponent(input, imageRef),
    },
    components,
    dependencies: [{ ref: imageRef, dependsOn: [...(distro ? [osBomRef(distro)] : []), ...refs] }],
  };
}
