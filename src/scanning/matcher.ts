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
import type { AffectedRow, PackageKey } from './store.js';

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
 * Findings for the packages, given the affected rows stored for their keys (store.affectedFor).
 * Withdrawn records never match.
 */
export function matchRows(
  packages: readonly InstalledPackage[],
  distro: Distro | undefined,
  rows: readonly AffectedRow[],
): Finding[] {
  const byKey = new Map<string, AffectedRow[]>();
  for (const row of rows) {
    if (row.withdrawn !== null) continue;
    const key = keyString(row);
    const list = byKey.get(key);
    if (list) list.push(row);
    else byKey.set(key, [row]);
  }
  const parsed = new Map<AffectedRow, StoredAffected>();
  const findings = new Map<string, Finding>();
  for (const { pkg, keys } of keysOf(packages, distro).perPackage) {
    for (const key of keys) {
      const candidates = byKey.get(keyString(key));
      if (!candidates) continue;
      const scheme = versionSchemeFor(key.ecosystem);
      for (const row of candidates) {
        let stored = parsed.get(row);
        if (!stored) {
          stored = JSON.parse(row.affected) as StoredAffected;
          parsed.set(row, stored);
        }
        const match = evaluateAffected(stored.entry, key.version, scheme);
        if (!match) continue;
        const aliases = JSON.parse(row.aliases) as string[];
        const vulnId = canonicalId(row.vulnId, aliases);
        const id = `${vulnId}\u0000${pkg.purl}`;
        const evidence: FindingEvidence = {
          id: row.vulnId,
          ecosystem: row.ecosystem,
          name: row.name,
          modified: row.modified,
          match,
        };
        const existing = findings.get(id);
        if (existing) {
          merge(existing, row, aliases, evidence, stored.severity, scheme);
          continue;
        }
        findings.set(id, {
          vulnId,
          ids: [row.vulnId],
          aliases: aliases.filter((a) => a !== row.vulnId),
          package: {
            type: pkg.type,
            name: pkg.name,
            version: pkg.version,
            purl: pkg.purl,
            ecosystem: key.ecosystem,
          },
          ...(match.fixedVersion !== undefined ? { fixedVersion: match.fixedVersion } : {}),
          severity: stored.severity ?? UNKNOWN,
          ...(row.summary ? { summary: row.summary } : {}),
          evidence: [evidence],
        });
      }
    }
  }
  for (const finding of findings.values()) {
    finding.ids.sort();
    finding.aliases = [...new Set(finding.aliases)].filter((a) => !finding.ids.includes(a)).sort();
    finding.evidence.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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
  row: AffectedRow,
  aliases: string[],
  evidence: FindingEvidence,
  severity: Severity | undefined,
  scheme: VersionScheme | undefined,
): void {
  if (!finding.ids.includes(row.vulnId)) finding.ids.push(row.vulnId);
  finding.aliases.push(...aliases);
  if (!finding.evidence.some((e) => e.id === evidence.id && e.ecosystem === evidence.ecosystem)) {
    finding.evidence.push(evidence);
  }
  if (severity && compareSeverities(severity, finding.severity) < 0) finding.severity = severity;
  if (!finding.summary && row.summary) finding.summary = row.summary;
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
