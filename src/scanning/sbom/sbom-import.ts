// Users may push their own SBOM with an image (an OCI referrer of artifact type
// application/spdx+json or application/vnd.cyclonedx+json). This reads one into the package model,
// by purl only: a purl is the one identifier both formats carry that the matcher can trust, so
// entries without a purl of a supported type are skipped. The document is untrusted: its shape is
// checked, every value bounded, and a document that is not SPDX 2.x / CycloneDX 1.x fails clearly.
import { PackageURL } from 'packageurl-js';
import { AnalysisError } from '../analysis-error.js';
import { isSafeToken, safeText } from '../packages/database-text.js';
import { sortedUniquePackages } from '../packages/package-order.js';
import type { Distro, ImageInventory, InstalledPackage, PackageType } from '../packages/package.js';
import { normalisePythonName } from '../packages/purl.js';
import { splitTopLevelAnd } from './license-expression.js';

export const SPDX_JSON_MEDIA_TYPE = 'application/spdx+json';
export const CYCLONEDX_JSON_MEDIA_TYPE = 'application/vnd.cyclonedx+json';

const DEFAULT_MAX_PACKAGES = 100_000;
const MAX_PURL_CHARS = 4096;
const MAX_NESTING = 32;
const MAX_LICENSES = 32;
const MAX_PROPERTIES = 256;
const DISTRO_ID = /^[a-z0-9._-]{1,64}$/;
const SUPPORTED_TYPES: ReadonlySet<string> = new Set<PackageType>(['apk', 'deb', 'npm', 'pypi']);

export interface SbomImportOptions {
  /**
   * Location given to packages whose SBOM does not record the file they were found in (SPDX never
   * does in a structured way), e.g. the SBOM's own digest. Defaults to ''.
   */
  location?: string;
  /** Most package entries accepted; more fails with database-too-large. */
  maxPackages?: number;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function malformed(problem: string): AnalysisError {
  return new AnalysisError('malformed-database', `SBOM ${problem}`);
}

/** What a document says about one package besides its purl. */
export interface PackageDetails {
  name?: string;
  licenses: string[];
  supplier?: string;
  location: string;
}

/** Package entries of a pushed SBOM that have a purl of type apk, deb, npm or pypi. */
export function packagesFromSbom(
  document: unknown,
  mediaType: string,
  options: SbomImportOptions = {},
): InstalledPackage[] {
  return inventoryFromSbom(document, mediaType, options).packages;
}

/**
 * The packages (in inventory order, exact duplicates removed) and the distribution, from the
 * document's operating-system entry or else from its purls.
 */
export function inventoryFromSbom(
  document: unknown,
  mediaType: string,
  options: SbomImportOptions = {},
): ImageInventory {
  const reader = new Reader(options);
  const base = mediaType.split(';')[0]!.trim().toLowerCase();
  if (base === SPDX_JSON_MEDIA_TYPE) {
    reader.readSpdx(requireSpdx(document));
  } else if (base === CYCLONEDX_JSON_MEDIA_TYPE) {
    reader.readCycloneDx(requireCycloneDx(document));
  } else {
    const quoted = JSON.stringify(mediaType.slice(0, 100));
    throw malformed(`media type ${quoted} is neither SPDX nor CycloneDX JSON`);
  }
  const packages = sortedUniquePackages(reader.packages);
  const distro = reader.distro ?? distroFromPurls(packages.map((pkg) => pkg.purl));
  return distro ? { distro, packages } : { packages };
}

function requireSpdx(document: unknown): JsonObject {
  if (!isObject(document)) throw malformed('is not a JSON object');
  const version = text(document.spdxVersion);
  if (version === undefined) throw malformed('is not an SPDX JSON document (no spdxVersion)');
  if (!/^SPDX-2\.\d+$/.test(version)) {
    throw malformed(`is ${JSON.stringify(version.slice(0, 20))}; only SPDX 2.x JSON is supported`);
  }
  return document;
}

function requireCycloneDx(document: unknown): JsonObject {
  if (!isObject(document)) throw malformed('is not a JSON object');
  if (document.bomFormat !== 'CycloneDX') throw malformed('is not a CycloneDX JSON document (bomFormat)');
  const version = text(document.specVersion);
  if (version === undefined || !/^1\.\d+$/.test(version)) {
    throw malformed(
      `has CycloneDX specVersion ${JSON.stringify(version?.slice(0, 20))}; only 1.x is supported`,
    );
  }
  return document;
}

/** An array field that may be absent; present but not an array is malformed. */
function arrayField(owner: JsonObject, field: string, where: string): unknown[] {
  const value = owner[field];
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw malformed(`${where}${field} is not an array`);
  return value;
}

class Reader {
  readonly packages: InstalledPackage[] = [];
  distro: Distro | undefined;
  private entries = 0;
  private readonly maxPackages: number;
  private readonly location: string;

  constructor(options: SbomImportOptions) {
    this.maxPackages = options.maxPackages ?? DEFAULT_MAX_PACKAGES;
    this.location = options.location ?? '';
  }

  private count(): void {
    if (++this.entries > this.maxPackages) {
      throw new AnalysisError('database-too-large', `SBOM has more than ${this.maxPackages} package entries`);
    }
  }

  readSpdx(document: JsonObject): void {
    const extracted = new Map<string, string>();
    for (const info of arrayField(document, 'hasExtractedLicensingInfos', '')) {
      const id = isObject(info) ? text(info.licenseId) : undefined;
      const extractedText = isObject(info) ? text(info.extractedText) : undefined;
      if (id && extractedText !== undefined) extracted.set(id, extractedText);
    }
    const packages = arrayField(document, 'packages', '');
    packages.forEach((entry, i) => {
      this.count();
      if (!isObject(entry)) throw malformed(`packages[${i}] is not an object`);
      this.readSpdxPackage(entry, extracted, i);
    });
  }

  private readSpdxPackage(entry: JsonObject, extracted: Map<string, string>, i: number): void {
    const purpose = text(entry.primaryPackagePurpose);
    if ((purpose === 'OPERATING_SYSTEM' || purpose === 'OPERATING-SYSTEM') && !this.distro) {
      this.distro = distroFromEntry(text(entry.name), text(entry.versionInfo), text(entry.description));
    }
    const purl = arrayField(entry, 'externalRefs', `packages[${i}].`)
      .filter(isObject)
      .filter((ref) => text(ref.referenceType)?.toLowerCase() === 'purl')
      .map((ref) => text(ref.referenceLocator))
      .find((locator) => locator !== undefined && parsePurl(locator) !== undefined);
    if (purl === undefined) return;
    const declared = text(entry.licenseDeclared);
    const licenses =
      declared && declared !== 'NOASSERTION' && declared !== 'NONE'
        ? splitTopLevelAnd(declared).map((term) => extracted.get(term) ?? term)
        : [];
    this.add(purl, {
      name: text(entry.name),
      licenses,
      // syft records apk and dpkg maintainers as the originator rather than the supplier.
      supplier: spdxSupplierName(text(entry.supplier)) ?? spdxSupplierName(text(entry.originator)),
      location: this.location,
    });
  }

  readCycloneDx(document: JsonObject): void {
    this.readComponents(document, '', 0);
  }

  private readComponents(owner: JsonObject, where: string, depth: number): void {
    if (depth > MAX_NESTING) throw malformed(`nests components deeper than ${MAX_NESTING} levels`);
    arrayField(owner, 'components', where).forEach((component, i) => {
      this.count();
      const path = `${where}components[${i}]`;
      if (!isObject(component)) throw malformed(`${path} is not an object`);
      this.readComponent(component);
      this.readComponents(component, `${path}.`, depth + 1);
    });
  }

  private readComponent(component: JsonObject): void {
    if (component.type === 'operating-system' && !this.distro) {
      this.distro = distroFromEntry(
        text(component.name),
        text(component.version),
        text(component.description),
      );
      if (this.distro) addDistroProperties(this.distro, component.properties);
    }
    const purl = text(component.purl);
    if (purl === undefined) return;
    const supplier = isObject(component.supplier) ? text(component.supplier.name) : text(component.author);
    this.add(purl, {
      name: text(component.name),
      licenses: cycloneDxLicenseTexts(component.licenses),
      supplier,
      location: cycloneDxLocation(component.properties) ?? this.location,
    });
  }

  private add(purl: string, details: PackageDetails): void {
    const pkg = packageFromPurl(purl, details);
    if (pkg) this.packages.push(pkg);
  }
}

/** `Person: Name (email)` / `Organization: Name` back to the `Name <email>` form of the model. */
function spdxSupplierName(supplier: string | undefined): string | undefined {
  if (!supplier || supplier === 'NOASSERTION') return undefined;
  const bare = supplier.replace(/^(?:Person|Organization|Tool):\s*/, '');
  const match = /^([^<>()]*?)\s*\(([^()\s]+@[^()\s]+)\)$/.exec(bare);
  return match ? `${match[1]} <${match[2]}>` : bare;
}

function cycloneDxLicenseTexts(licenses: unknown): string[] {
  if (!Array.isArray(licenses)) return [];
  const texts: string[] = [];
  for (const choice of licenses.slice(0, MAX_LICENSES)) {
    if (!isObject(choice)) continue;
    const expression = text(choice.expression);
    if (expression !== undefined) texts.push(...splitTopLevelAnd(expression));
    else if (isObject(choice.license)) {
      const license = text(choice.license.id) ?? text(choice.license.name);
      if (license !== undefined) texts.push(license);
    }
  }
  return texts;
}

/** CycloneDX name/value properties as pairs, bounded; malformed entries are ignored. */
function properties(value: unknown): [string, string][] {
  if (!Array.isArray(value)) return [];
  const pairs: [string, string][] = [];
  for (const property of (value as unknown[]).slice(0, MAX_PROPERTIES)) {
    const name = isObject(property) ? text(property.name) : undefined;
    const propertyValue = isObject(property) ? text(property.value) : undefined;
    if (name !== undefined && propertyValue !== undefined) pairs.push([name, propertyValue]);
  }
  return pairs;
}

/** The path the producer recorded: Palisade's own property, or syft's first location. */
function cycloneDxLocation(value: unknown): string | undefined {
  const pairs = properties(value);
  for (const wanted of ['palisade:package:location', 'syft:location:0:path']) {
    const location = safeText(pairs.find(([name]) => name === wanted)?.[1]);
    if (location !== undefined) return location.replace(/^\/+/, '');
  }
  return undefined;
}

/** Codename and ID_LIKE, from the properties Palisade's CycloneDX writer puts on the OS component. */
function addDistroProperties(distro: Distro, value: unknown): void {
  for (const [name, propertyValue] of properties(value)) {
    if (!DISTRO_ID.test(propertyValue)) continue;
    if (name === 'palisade:distro:codename') distro.codename ??= propertyValue;
    else if (name === 'palisade:distro:idLike') distro.idLike.push(propertyValue);
  }
}

function distroFromEntry(
  name: string | undefined,
  version: string | undefined,
  description: string | undefined,
): Distro | undefined {
  const id = name?.toLowerCase();
  if (!id || !DISTRO_ID.test(id)) return undefined;
  const distro: Distro = { id, idLike: [] };
  if (version && isSafeToken(version)) distro.versionId = version;
  const prettyName = safeText(description);
  if (prettyName) distro.prettyName = prettyName;
  return distro;
}

function parsePurl(purl: string): PackageURL | undefined {
  if (purl.length > MAX_PURL_CHARS) return undefined;
  try {
    const parsed = PackageURL.fromString(purl);
    return SUPPORTED_TYPES.has(parsed.type) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The name as the document spells it when it is the purl's name, else the purl's own. */
function declaredName(parsed: PackageURL, documentName: string | undefined): string {
  const purlName =
    parsed.type === 'npm' && parsed.namespace ? `${parsed.namespace}/${parsed.name}` : parsed.name;
  if (!documentName) return purlName;
  const same =
    parsed.type === 'pypi'
      ? normalisePythonName(documentName) === purlName
      : documentName.toLowerCase() === purlName.toLowerCase();
  return same ? documentName : purlName;
}

/** An InstalledPackage from a purl of a supported type with a version, or undefined. */
export function packageFromPurl(purl: string, details: PackageDetails): InstalledPackage | undefined {
  const parsed = parsePurl(purl);
  if (!parsed?.version || !isSafeToken(parsed.version)) return undefined;
  const name = declaredName(parsed, details.name);
  if (!isSafeToken(name)) return undefined;
  const pkg: InstalledPackage = {
    type: parsed.type as PackageType,
    name,
    version: parsed.version,
    licenses: [...new Set(details.licenses.map((l) => safeText(l)).filter((l) => l !== undefined))],
    location: details.location,
    purl: parsed.toString(),
  };
  const upstream = parsed.qualifiers?.upstream;
  if (upstream) {
    const at = upstream.indexOf('@');
    const sourceName = at < 0 ? upstream : upstream.slice(0, at);
    const sourceVersion = at < 0 ? undefined : upstream.slice(at + 1);
    if (isSafeToken(sourceName) && sourceName !== name) pkg.sourceName = sourceName;
    if (sourceVersion && isSafeToken(sourceVersion) && sourceVersion !== pkg.version)
      pkg.sourceVersion = sourceVersion;
  }
  const arch = parsed.qualifiers?.arch;
  if (arch && isSafeToken(arch)) pkg.arch = arch;
  const supplier = safeText(details.supplier);
  if (supplier) pkg.supplier = supplier;
  return pkg;
}

/**
 * The distribution named by the `distro` qualifiers of apk and deb purls (`debian-12`,
 * `alpine-3.19.1`, `wolfi`; a bare codename such as `bookworm` as the codename). The most common
 * one wins; ties go to the first in sorted order, so the answer does not depend on package order.
 */
export function distroFromPurls(purls: Iterable<string>): Distro | undefined {
  const counts = new Map<string, { distro: Distro; count: number }>();
  for (const purl of purls) {
    const parsed = parsePurl(purl);
    if (!parsed || (parsed.type !== 'apk' && parsed.type !== 'deb') || !parsed.namespace) continue;
    const distro = distroFromQualifier(parsed.namespace.toLowerCase(), parsed.qualifiers?.distro);
    if (!distro) continue;
    const key = JSON.stringify(distro);
    const seen = counts.get(key) ?? { distro, count: 0 };
    seen.count++;
    counts.set(key, seen);
  }
  const ranked = [...counts.entries()].sort(
    ([keyA, a], [keyB, b]) => b.count - a.count || (keyA < keyB ? -1 : keyA > keyB ? 1 : 0),
  );
  return ranked[0]?.[1].distro;
}

function distroFromQualifier(id: string, qualifier: string | undefined): Distro | undefined {
  if (!DISTRO_ID.test(id)) return undefined;
  const distro: Distro = { id, idLike: [] };
  if (!qualifier || qualifier === id || !isSafeToken(qualifier)) return distro;
  if (qualifier.startsWith(`${id}-`)) distro.versionId = qualifier.slice(id.length + 1);
  else if (/^[a-z]+$/.test(qualifier)) distro.codename = qualifier;
  else distro.versionId = qualifier;
  return distro;
}
