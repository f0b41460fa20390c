// One severity per finding, however the advisory expressed it. OSV records carry CVSS vectors (v2,
// v3.x, v4.0) at record or package level, Ubuntu priorities, and database-specific words (GHSA's
// "MODERATE", Debian's urgency); reports, policies and `--fail-on` need a single comparable rating.
// Scores come from ae-cvss-calculator (CVSS 4.0 scoring rests on a large macrovector table that is
// not worth re-deriving); every vector is checked against the metric grammar here first because the
// library is lenient (it silently fills in or overrides missing, repeated or mislabelled metrics).
import cvss from 'ae-cvss-calculator';
import type { JsonObject, OsvAffected, OsvRecord, OsvSeverity } from './osv-record.js';

export type Rating = 'critical' | 'high' | 'medium' | 'low' | 'none' | 'unknown';

/** The ratings `--fail-on` accepts. */
export type ThresholdRating = 'critical' | 'high' | 'medium' | 'low';

export interface Severity {
  rating: Rating;
  /** CVSS base score, 0.0–10.0, when the rating came from a vector. */
  score?: number;
  /** The vector or word the rating came from, as written in the record. */
  vector?: string;
  /** Where it came from: CVSS_V4, CVSS_V3, CVSS_V2, Ubuntu, or e.g. `GHSA database_specific.severity`. */
  source: string;
}

/** Most severe first. `unknown` sorts last: nothing says it is bad, so no threshold trips on it. */
export const ratingOrder: readonly Rating[] = ['critical', 'high', 'medium', 'low', 'none', 'unknown'];

const RANK: Record<Rating, number> = { critical: 5, high: 4, medium: 3, low: 2, none: 1, unknown: 0 };

/** For Array.sort: most severe rating first. */
export function compareRatings(a: Rating, b: Rating): number {
  return RANK[b] - RANK[a];
}

/** For Array.sort: most severe first, then the higher score first (a score beats no score). */
export function compareSeverities(a: Severity | undefined, b: Severity | undefined): number {
  const byRating = compareRatings(a?.rating ?? 'unknown', b?.rating ?? 'unknown');
  if (byRating !== 0) return byRating;
  return (b?.score ?? -1) - (a?.score ?? -1);
}

/** Whether a finding rated `rating` trips `--fail-on threshold`. */
export function meetsThreshold(rating: Rating, threshold: ThresholdRating): boolean {
  return RANK[rating] >= RANK[threshold];
}

/** Parses the `--fail-on` value (case-insensitive). Throws RangeError naming the accepted values. */
export function parseRating(text: string): ThresholdRating {
  const word = text.trim().toLowerCase();
  if (word === 'critical' || word === 'high' || word === 'medium' || word === 'low') return word;
  throw new RangeError(
    `unknown severity ${JSON.stringify(text.slice(0, 40))}: expected critical, high, medium or low`,
  );
}

/**
 * Qualitative rating of a CVSS base score. v3.x and v4.0 use the specification's scale (None 0.0,
 * Low 0.1–3.9, Medium 4.0–6.9, High 7.0–8.9, Critical 9.0–10.0). CVSS v2 defines no scale; NVD's v2
 * bands are used (Low 0.0–3.9, Medium 4.0–6.9, High 7.0–10.0), so a v2 score never rates critical.
 */
export function ratingOfScore(score: number, version: 2 | 3 | 4): Rating {
  if (!Number.isFinite(score) || score < 0 || score > 10) return 'unknown';
  if (version === 2) return score >= 7 ? 'high' : score >= 4 ? 'medium' : 'low';
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  return score > 0 ? 'low' : 'none';
}

type CvssType = 'CVSS_V2' | 'CVSS_V3' | 'CVSS_V4';

interface VectorGrammar {
  /** Required first component (`CVSS:3.1`), or none for v2 vectors, which have no prefix. */
  prefixes: readonly string[];
  metrics: Readonly<Record<string, readonly string[]>>;
  base: readonly string[];
}

const CIA2 = ['N', 'P', 'C'];
const REQ2 = ['L', 'M', 'H', 'ND'];
const V2: VectorGrammar = {
  prefixes: [],
  metrics: {
    AV: ['L', 'A', 'N'],
    AC: ['H', 'M', 'L'],
    Au: ['M', 'S', 'N'],
    C: CIA2,
    I: CIA2,
    A: CIA2,
    E: ['U', 'POC', 'F', 'H', 'ND'],
    RL: ['OF', 'TF', 'W', 'U', 'ND'],
    RC: ['UC', 'UR', 'C', 'ND'],
    CDP: ['N', 'L', 'LM', 'MH', 'H', 'ND'],
    TD: ['N', 'L', 'M', 'H', 'ND'],
    CR: REQ2,
    IR: REQ2,
    AR: REQ2,
  },
  base: ['AV', 'AC', 'Au', 'C', 'I', 'A'],
};

const CIA3 = ['H', 'L', 'N'];
const MCIA = ['X', 'N', 'L', 'H'];
const REQ = ['X', 'L', 'M', 'H'];
const V3: VectorGrammar = {
  prefixes: ['CVSS:3.0', 'CVSS:3.1'],
  metrics: {
    AV: ['N', 'A', 'L', 'P'],
    AC: ['L', 'H'],
    PR: ['N', 'L', 'H'],
    UI: ['N', 'R'],
    S: ['U', 'C'],
    C: CIA3,
    I: CIA3,
    A: CIA3,
    E: ['X', 'U', 'P', 'F', 'H'],
    RL: ['X', 'O', 'T', 'W', 'U'],
    RC: ['X', 'U', 'R', 'C'],
    CR: REQ,
    IR: REQ,
    AR: REQ,
    MAV: ['X', 'N', 'A', 'L', 'P'],
    MAC: ['X', 'L', 'H'],
    MPR: ['X', 'N', 'L', 'H'],
    MUI: ['X', 'N', 'R'],
    MS: ['X', 'U', 'C'],
    MC: MCIA,
    MI: MCIA,
    MA: MCIA,
  },
  base: ['AV', 'AC', 'PR', 'UI', 'S', 'C', 'I', 'A'],
};

const MSIA = ['X', 'N', 'L', 'H', 'S'];
const V4: VectorGrammar = {
  prefixes: ['CVSS:4.0'],
  metrics: {
    AV: ['N', 'A', 'L', 'P'],
    AC: ['L', 'H'],
    AT: ['N', 'P'],
    PR: ['N', 'L', 'H'],
    UI: ['N', 'P', 'A'],
    VC: CIA3,
    VI: CIA3,
    VA: CIA3,
    SC: CIA3,
    SI: CIA3,
    SA: CIA3,
    E: ['X', 'A', 'P', 'U'],
    CR: REQ,
    IR: REQ,
    AR: REQ,
    MAV: ['X', 'N', 'A', 'L', 'P'],
    MAC: ['X', 'L', 'H'],
    MAT: ['X', 'N', 'P'],
    MPR: ['X', 'N', 'L', 'H'],
    MUI: ['X', 'N', 'P', 'A'],
    MVC: MCIA,
    MVI: MCIA,
    MVA: MCIA,
    MSC: MCIA,
    MSI: MSIA,
    MSA: MSIA,
    S: ['X', 'N', 'P'],
    AU: ['X', 'N', 'Y'],
    R: ['X', 'A', 'U', 'I'],
    V: ['X', 'D', 'C'],
    RE: ['X', 'L', 'M', 'H'],
    U: ['X', 'Clear', 'Green', 'Amber', 'Red'],
  },
  base: ['AV', 'AC', 'AT', 'PR', 'UI', 'VC', 'VI', 'VA', 'SC', 'SI', 'SA'],
};

const GRAMMARS: Record<CvssType, VectorGrammar> = { CVSS_V2: V2, CVSS_V3: V3, CVSS_V4: V4 };
const VERSION: Record<CvssType, 2 | 3 | 4> = { CVSS_V2: 2, CVSS_V3: 3, CVSS_V4: 4 };

/**
 * True when `vector` is a well-formed vector of its version: the right prefix, known metrics with
 * allowed values, no metric twice, every base metric present. Metric order is not enforced: the
 * specifications disagree with themselves about it and published advisories reorder metrics.
 */
function isWellFormed(grammar: VectorGrammar, vector: string): boolean {
  if (vector.length > 512) return false;
  const parts = vector.split('/');
  if (grammar.prefixes.length > 0 && !grammar.prefixes.includes(parts.shift() ?? '')) return false;
  const seen = new Set<string>();
  for (const part of parts) {
    const [metric, value, extra] = part.split(':');
    if (metric === undefined || value === undefined || extra !== undefined || seen.has(metric)) return false;
    if (!Object.hasOwn(grammar.metrics, metric) || !grammar.metrics[metric]!.includes(value)) return false;
    seen.add(metric);
  }
  return grammar.base.every((metric) => seen.has(metric));
}

/**
 * The CVSS base score of a vector, or undefined when the vector is not valid for `type`. For CVSS
 * 4.0 this is CVSS-B (base metrics only): threat and environmental metrics a publisher added are
 * ignored so scores from different sources compare like with like; v2 and v3 report the base
 * score likewise, ignoring temporal and environmental metrics.
 */
export function cvssBaseScore(type: CvssType, vector: string): number | undefined {
  if (!isWellFormed(GRAMMARS[type], vector)) return undefined;
  try {
    const score = computeBase(type, vector);
    return score !== undefined && Number.isFinite(score) && score >= 0 && score <= 10 ? score : undefined;
  } catch {
    return undefined;
  }
}

function computeBase(type: CvssType, vector: string): number | undefined {
  if (type === 'CVSS_V4') {
    const calc = new cvss.Cvss4P0(vector);
    return calc.isBaseFullyDefined() ? calc.calculateScores().baseMetricsOnly : undefined;
  }
  // Cvss3P1 would silently relabel a 3.0 vector as 3.1; 3.0 keeps its own rounding rules.
  const calc =
    type === 'CVSS_V2'
      ? new cvss.Cvss2(vector)
      : vector.startsWith('CVSS:3.0/')
        ? new cvss.Cvss3P0(vector)
        : new cvss.Cvss3P1(vector);
  return calc.isBaseFullyDefined() ? calc.calculateScores().base : undefined;
}

function fromCvss(entries: readonly OsvSeverity[], type: CvssType): Severity[] {
  const found: Severity[] = [];
  for (const entry of entries) {
    if (entry.type !== type) continue;
    const score = cvssBaseScore(type, entry.score);
    if (score === undefined) continue;
    found.push({ rating: ratingOfScore(score, VERSION[type]), score, vector: entry.score, source: type });
  }
  return found;
}

// Words distributions and databases use, mapped onto the CVSS scale. Ubuntu's "negligible" and
// Debian's "unimportant" become low rather than none: they are real (if minor) vulnerabilities,
// while CVSS "none" means no impact at all. Red Hat's "important" is its second-highest level.
const WORDS: Readonly<Record<string, Rating>> = {
  critical: 'critical',
  high: 'high',
  important: 'high',
  medium: 'medium',
  moderate: 'medium',
  low: 'low',
  negligible: 'low',
  unimportant: 'low',
  none: 'none',
};

function ratingOfWord(word: string): Rating {
  // Debian marks some urgencies with trailing asterisks ("low**"); they do not change the level.
  const key = word.trim().toLowerCase().replace(/\*+$/, '');
  return Object.hasOwn(WORDS, key) ? WORDS[key]! : 'unknown';
}

function fromUbuntu(entries: readonly OsvSeverity[]): Severity[] {
  return entries
    .filter((entry) => entry.type === 'Ubuntu')
    .map((entry) => ({ rating: ratingOfWord(entry.score), vector: entry.score, source: 'Ubuntu' }));
}

const AFFECTED_WORD_FIELDS = [
  ['ecosystem_specific', 'severity'],
  ['ecosystem_specific', 'urgency'],
  ['ecosystem_specific', 'ubuntu_priority'],
  ['database_specific', 'severity'],
  ['database_specific', 'urgency'],
] as const;

function wordAt(object: JsonObject | undefined, field: string, source: string): Severity[] {
  const word = object?.[field];
  if (typeof word !== 'string' || word.length === 0 || word.length > 64) return [];
  return [{ rating: ratingOfWord(word), vector: word, source }];
}

function fromAffectedWords(entries: readonly OsvAffected[], db: string): Severity[] {
  return entries.flatMap((entry) =>
    AFFECTED_WORD_FIELDS.flatMap(([block, field]) => wordAt(entry[block], field, `${db} ${block}.${field}`)),
  );
}

/** The database prefix of an id (`GHSA`, `DEBIAN`), used to say whose word a rating is. */
function databaseOf(id: string): string {
  return id.startsWith('x_') ? 'x_' : id.slice(0, Math.max(0, id.indexOf('-'))) || id;
}

/**
 * The severity of `record`, as it applies to `affected` when given (else to the record as a whole,
 * taking the most severe package-level rating). Sources are tried in this order and the first that
 * yields a known rating wins; within one source the most severe entry wins:
 *
 * 1. affected-level CVSS_V4, then CVSS_V3, then CVSS_V2;
 * 2. record-level CVSS_V4, then CVSS_V3, then CVSS_V2;
 * 3. `Ubuntu` priorities, affected-level then record-level;
 * 4. words in `affected[].ecosystem_specific` / `database_specific` (`severity`, `urgency`,
 *    `ubuntu_priority`), then the record's `database_specific.severity` (GHSA's LOW … CRITICAL).
 *
 * Invalid vectors are skipped, never thrown. When only unrecognised words exist (Debian's "not yet
 * assigned"), the result is `unknown` from the first of them; with no severity at all, undefined.
 */
export function severityOf(record: OsvRecord, affected?: OsvAffected): Severity | undefined {
  const packages = affected ? [affected] : record.affected;
  const packageLevel = packages.flatMap((entry) => entry.severity);
  const db = databaseOf(record.id);
  const sources: (() => Severity[])[] = [
    () => fromCvss(packageLevel, 'CVSS_V4'),
    () => fromCvss(packageLevel, 'CVSS_V3'),
    () => fromCvss(packageLevel, 'CVSS_V2'),
    () => fromCvss(record.severity, 'CVSS_V4'),
    () => fromCvss(record.severity, 'CVSS_V3'),
    () => fromCvss(record.severity, 'CVSS_V2'),
    () => fromUbuntu(packageLevel),
    () => fromUbuntu(record.severity),
    () => fromAffectedWords(packages, db),
    () => wordAt(record.database_specific, 'severity', `${db} database_specific.severity`),
  ];
  let firstUnknown: Severity | undefined;
  for (const source of sources) {
    const found = source();
    firstUnknown ??= found.find((severity) => severity.rating === 'unknown');
    const known = found.filter((severity) => severity.rating !== 'unknown');
    if (known.length > 0) return known.sort(compareSeverities)[0];
  }
  return firstUnknown;
}
