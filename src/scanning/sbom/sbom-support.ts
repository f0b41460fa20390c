// What the SPDX and CycloneDX writers share: the package order, identifiers derived from content
// (never counters or random values, so re-analysing an image yields the same document), the
// document's URI and serial number, and the classification of each declared licence.
import { createHash } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import { packageKey, sortedUniquePackages } from '../packages/package-order.js';
import type { InstalledPackage } from '../packages/package.js';
import { licenseRefFor, normaliseSpdxExpression } from './license-expression.js';
import type { SbomInput } from './sbom-input.js';

/** Packages in the inventory order (purl, then location), exact duplicates removed. */
export function orderedPackages(input: SbomInput): InstalledPackage[] {
  return sortedUniquePackages(input.inventory.packages);
}

/** 16 hex digits of the SHA-256 of the package's content: stable across runs, distinct per package. */
export function packageContentId(pkg: InstalledPackage): string {
  return createHash('sha256').update(packageKey(pkg)).digest('hex').slice(0, 16);
}

/** RFC 3339 UTC without fractional seconds, the form SPDX requires and CycloneDX accepts. */
export function sbomTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `${namespaceBase}/<repository>@<digest>`: unique per image and registry, stable across runs. */
export function documentNamespace(input: SbomInput): string {
  return `${input.namespaceBase.replace(/\/+$/, '')}/${input.image.repository}@${input.image.digest}`;
}

/** `urn:uuid:` + the RFC 4122 name-based (version 5) UUID of the document namespace URI. */
export function serialNumber(input: SbomInput): string {
  return `urn:uuid:${uuidv5(documentNamespace(input), uuidv5.URL)}`;
}

/** The image digest as a checksum, when it is a SHA-256 or SHA-512 digest. */
export function digestChecksum(digest: string): { algorithm: 'SHA256' | 'SHA512'; hex: string } | undefined {
  const match = /^(sha256|sha512):([0-9a-f]+)$/.exec(digest);
  if (!match) return undefined;
  const [, algorithm, hex] = match;
  if (algorithm === 'sha256' && hex!.length === 64) return { algorithm: 'SHA256', hex: hex! };
  if (algorithm === 'sha512' && hex!.length === 128) return { algorithm: 'SHA512', hex: hex! };
  return undefined;
}

/** A declared licence string: its normalised SPDX expression, or the LicenseRef that stands for it. */
export interface DeclaredLicense {
  text: string;
  expression?: string;
  licenseRef?: string;
}

export function declaredLicenses(pkg: InstalledPackage): DeclaredLicense[] {
  return [...new Set(pkg.licenses)].map((text) => {
    const expression = normaliseSpdxExpression(text);
    return expression !== undefined ? { text, expression } : { text, licenseRef: licenseRefFor(text) };
  });
}

/** Property-style facts about a package that neither format has a dedicated field for. */
export function packageFacts(pkg: InstalledPackage): [string, string][] {
  const facts: [string, string][] = [['location', pkg.location]];
  if (pkg.sourceName) facts.push(['sourceName', pkg.sourceName]);
  if (pkg.sourceVersion) facts.push(['sourceVersion', pkg.sourceVersion]);
  if (pkg.arch) facts.push(['arch', pkg.arch]);
  return facts;
}

/** The object without its undefined fields, key order kept (it is part of the output bytes). */
export function definedFields(entry: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entry).filter(([, value]) => value !== undefined));
}
