// Matches an image's packages against the OSV records stored for their (ecosystem, name) keys.
// Every decision is made by evaluateAffected with the ecosystem's own version scheme; records that
// share an alias (a CVE and its GHSA, a GHSA and its PYSEC) become one finding per package, whose
// evidence lists each record and the range or version entry that matched.
import type { InstalledPackage, Distro } from './packages/package.js';
import { evaluateAffected, type AffectedMatch, type OsvAffected } from './osv/affected.js';
import { osvKeysFor } from './osv/ecosystems.js';
import { compareSeverities, type Severity } from './osv/severity.js';
import { versionSchemeFor } from './versions/schemes.js';
import type { VersionScheme } from './versions/version-scheme.js';
import type { Candidate } from './affected-cache.js';
import type { PackageKey } from './store.js';

/** What the importer stores per affected entry: the entry (less its package) and its severity. */
export interface StoredAffected {
  entry: OsvAffected;
  severity?: Severity;
}

export interface FindingEvidence {
  id: string;
  ecosystem: string;
  name: string;
  modified: string;
  match: AffectedMatch;
}

export interface Finding {
  /** The vulnerability as one finding: its CVE alias when it has one, else its smallest id. */
  vulnId: string;
  /** Every record id that matched. */
  ids: string[];
  /** Every alias of those records, without the ids. */
  aliases: string[];
  package: { type: string; name: string; version: string; purl: string; ecosystem: string };
  fixedVersion?: string;
  severity: Severity;
  summary?: string;
  evidence: FindingEvidence[];
}

const UNKNOWN: Severity = { rating: 'unknown', source: 'none' };

/** Ids to look up, keyed so that each package knows which rows are its own. */
export function keysOf(packages: readonly InstalledPackage[], distro: Distro | undefined) {
  const perPackage = packages.map((pkg) => ({ pkg, keys: osvKeysFor(pkg, distro) }));
  const unique = new Map<string, PackageKey>();
  for (const { keys } of perPackage) {
    for (const key of keys) unique.set(keyString(key), { ecosystem: key.ecosystem, name: key.name });
  }
  return { perPackage, unique: [...unique.values()] };
}

export function keyString(key: PackageKey): string {
  return `${key.ecosystem}\u0000${key.name}`;
}

/** The finding id for a record: a CVE among its id and aliases, else the smallest of them. */
export function canonicalId(id: string, aliases: readonly string[]): string {
  const all = [id, ...aliases].sort();
  return all.find((a) => a.startsWith('CVE-')) ?? all[0] ?? id;
}

/**
 * Findings for the packages, given the candidate entries stored for their keys
 * (AffectedCache.candidates). Withdrawn records never match.
 */
export function matchCandidates(
  packages: readonly InstalledPackage[],
  distro: Distro | undefined,
  candidates: readonly Candidate[],
): Finding[] {
  const byKey = new Map<string, Candidate[]>();
  for (const candidate of candidates) {
    if (candidate.withdrawn) continue;
    const key = keyString(candidate);
    const list = byKey.get(key);
    if (list) list.push(candidate);
    else byKey.set(key, [candidate]);
  }
  const findings = new Map<string, Finding>();
  for (const { pkg, keys } of keysOf(packages, distro).perPackage) {
    for (const key of keys) {
      const list = byKey.get(keyString(key));
      if (!list) continue;
      const scheme = versionSchemeFor(key.ecosystem);
      for (const candidate of list) {
        const match = evaluateAffected(candidate.stored.entry, key.version, scheme);
        if (!match) continue;
        const vulnId = canonicalId(candidate.vulnId, candidate.aliases);
        const id = `${vulnId}\u0000${pkg.purl}`;
        const evidence: FindingEvidence = {
          id: candidate.vulnId,
          ecosystem: candidate.ecosystem,
          name: candidate.name,
          modified: candidate.modified,
          match,
        };
        const existing = findings.get(id);
        if (existing) {
          merge(existing, candidate, evidence, scheme);
          continue;
        }
        findings.set(id, {
          vulnId,
          ids: [candidate.vulnId],
          aliases: candidate.aliases.filter((a) => a !== candidate.vulnId),
          package: {
            type: pkg.type,
            name: pkg.name,
            version: pkg.version,
            purl: pkg.purl,
            ecosystem: key.ecosystem,
          },
          ...(match.fixedVersion !== undefined ? { fixedVersion: match.fixedVersion } : {}),
          severity: candidate.stored.severity ?? UNKNOWN,
          ...(candidate.summary ? { summary: candidate.summary } : {}),
          evidence: [evidence],
        });
      }
    }
  }
  for (const finding of findings.values()) {
    finding.ids.sort();
    finding.aliases = [...new Set(finding.aliases)].filter((a) => !finding.ids.includes(a)).sort();
    finding.evidence.sort((a, b) => compareText(a.id, b.id));
  }
  return [...findings.values()].sort(
    (a, b) =>
      compareSeverities(a.severity, b.severity) ||
      compareText(a.vulnId, b.vulnId) ||
      compareText(a.package.purl, b.package.purl),
  );
}

function merge(
  finding: Finding,
  candidate: Candidate,
  evidence: FindingEvidence,
  scheme: VersionScheme | undefined,
): void {
  if (!finding.ids.includes(candidate.vulnId)) finding.ids.push(candidate.vulnId);
  finding.aliases.push(...candidate.aliases);
  const severity = candidate.stored.severity;
  if (!finding.evidence.some((e) => e.id === evidence.id && e.ecosystem === evidence.ecosystem)) {
    finding.evidence.push(evidence);
  }
  if (severity && compareSeverities(severity, finding.severity) < 0) finding.severity = severity;
  if (!finding.summary && candidate.summary) finding.summary = candidate.summary;
  // The version that resolves every matching record is the highest of their fixed versions.
  const fixed = evidence.match.fixedVersion;
  if (fixed === undefined) return;
  if (finding.fixedVersion === undefined || higher(fixed, finding.fixedVersion, scheme))
    finding.fixedVersion = fixed;
}

function higher(a: string, b: string, scheme: VersionScheme | undefined): boolean {
  if (!scheme || !scheme.isValid(a) || !scheme.isValid(b)) return false;
  return scheme.compare(a, b) > 0;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
