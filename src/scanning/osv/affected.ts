// Decides whether one installed version falls inside an OSV `affected[]` entry, following the OSV
// schema's evaluation algorithm (ossf.github.io/osv-schema, "Evaluation"), and says why: the range and
// the events that bound the match, or the exact `versions` entry, plus the fixed version that would
// resolve it. Version order always comes from a VersionScheme, never from comparing strings.
//
// Deliberate rules for what the specification leaves open:
// - SEMVER ranges are ordered by SemVer whatever the ecosystem; ECOSYSTEM ranges by the scheme the
//   caller passes and are skipped when it has none; GIT ranges (commit graphs) and unknown range
//   types are skipped. The `versions` list is matched by exact string equality in every case.
// - An event whose version the scheme rejects, or which does not name exactly one of introduced /
//   fixed / last_affected / limit, is skipped (and listed as skipped in the evidence); a bad record
//   never throws. Skipping a bad `fixed` can widen a range: we prefer a visible false positive, with
//   the skipped event attached, to a silent false negative.
// - "introduced": "0" is the lowest version in every scheme; a `limit` containing "*" is infinity.
// - Events are sorted stably by version, so events at equal versions keep the record's order.
// - An installed version the scheme rejects is not in any range; only an exact `versions` entry can
//   match it.
import { semverVersions } from '../versions/semver.js';
import type { VersionScheme } from '../versions/version-scheme.js';

/** One entry of `ranges[].events`: exactly one field should be present. */
export interface OsvEvent {
  readonly introduced?: string;
  readonly fixed?: string;
  readonly last_affected?: string;
  readonly limit?: string;
}

export interface OsvRange {
  readonly type: string;
  readonly repo?: string;
  readonly events: readonly OsvEvent[];
}

/** The parts of `affected[]` that decide a match (package identity is matched by the caller). */
export interface OsvAffected {
  readonly package?: { readonly ecosystem: string; readonly name: string; readonly purl?: string } | null;
  readonly ranges?: readonly OsvRange[] | null;
  readonly versions?: readonly string[] | null;
}

export type OsvEventKind = 'introduced' | 'fixed' | 'last_affected' | 'limit';

/** The evidence of a match: how the installed version was found affected. */
export type AffectedMatch = RangeMatch | VersionsMatch;

export interface RangeMatch {
  readonly via: 'range';
  readonly rangeType: 'SEMVER' | 'ECOSYSTEM';
  /** Index in `ranges`. */
  readonly rangeIndex: number;
  /** The introduced event that opened the affected interval holding the version ("0" = from the start). */
  readonly introduced: string;
  /** The event that closes that interval, if any: a fixed version or a last affected one. */
  readonly fixed?: string;
  readonly lastAffected?: string;
  /** The lowest limit the version is below, when the range has limits. */
  readonly limit?: string;
  /** The version that resolves the match: the closing fixed event, when there is one. */
  readonly fixedVersion?: string;
  /** Events of this range skipped as invalid; non-empty means the range was read only in part. */
  readonly skippedEvents: readonly OsvEvent[];
}

export interface VersionsMatch {
  readonly via: 'versions';
  /** The `versions` entry equal to the installed version. */
  readonly version: string;
  /** The lowest fixed version above the installed one in the entry's evaluable ranges, if any. */
  readonly fixedVersion?: string;
}

interface PreparedEvent {
  readonly kind: OsvEventKind;
  readonly version: string;
  /** -1 for introduced "0", 1 for a "*" limit: positions no version comparison is needed for. */
  readonly extreme: -1 | 0 | 1;
}

interface PreparedRange {
  /** Sorted, limits excluded. */
  readonly events: readonly PreparedEvent[];
  /** Sorted; empty means no limit. */
  readonly limits: readonly PreparedEvent[];
  readonly skipped: readonly OsvEvent[];
}

const EVENT_KINDS: readonly OsvEventKind[] = ['introduced', 'fixed', 'last_affected', 'limit'];

/** Records come from outside: an array element typed as an object may be anything at run time. */
function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}

/** A record's list, or none when the field is missing, null or not a list. */
function listOf<T>(value: readonly T[] | null | undefined): readonly T[] {
  return Array.isArray(value) ? (value as readonly T[]) : [];
}

/** The one kind an event names, or undefined when it names none or several (or a non-string). */
function eventKind(event: OsvEvent): OsvEventKind | undefined {
  if (!isObject(event)) return undefined;
  const present = EVENT_KINDS.filter((k) => event[k] !== undefined);
  if (present.length !== 1) return undefined;
  return typeof event[present[0]!] === 'string' ? present[0] : undefined;
}

function prepareEvent(event: OsvEvent, scheme: VersionScheme): PreparedEvent | undefined {
  const kind = eventKind(event);
  if (kind === undefined) return undefined;
  const version = event[kind]!;
  if (kind === 'introduced' && version === '0') return { kind, version, extreme: -1 };
  if (kind === 'limit' && version.includes('*')) return { kind, version, extreme: 1 };
  return scheme.isValid(version) ? { kind, version, extreme: 0 } : undefined;
}

function compareEvents(scheme: VersionScheme, a: PreparedEvent, b: PreparedEvent): number {
  if (a.extreme !== 0 || b.extreme !== 0) return a.extreme - b.extreme;
  return scheme.compare(a.version, b.version);
}

/** Where the installed version lies relative to an event's version. */
function compareToEvent(scheme: VersionScheme, version: string, event: PreparedEvent): number {
  return event.extreme !== 0 ? -event.extreme : scheme.compare(version, event.version);
}

// Records are evaluated for many installed versions; each range is validated and sorted once per scheme.
const prepared = new WeakMap<OsvRange, Map<VersionScheme, PreparedRange>>();

function prepareRange(range: OsvRange, scheme: VersionScheme): PreparedRange {
  let byScheme = prepared.get(range);
  const hit = byScheme?.get(scheme);
  if (hit !== undefined) return hit;
  const events: PreparedEvent[] = [];
  const limits: PreparedEvent[] = [];
  const skipped: OsvEvent[] = [];
  for (const event of listOf(range.events)) {
    const p = prepareEvent(event, scheme);
    if (p === undefined) skipped.push(event);
    else (p.kind === 'limit' ? limits : events).push(p);
  }
  // Array.prototype.sort is stable: events at equal versions keep the record's order.
  const byVersion = (a: PreparedEvent, b: PreparedEvent): number => compareEvents(scheme, a, b);
  const result: PreparedRange = { events: events.sort(byVersion), limits: limits.sort(byVersion), skipped };
  if (byScheme === undefined) {
    byScheme = new Map();
    prepared.set(range, byScheme);
  }
  byScheme.set(scheme, result);
  return result;
}

/** The scheme that orders a range, or undefined when the range cannot be evaluated here. */
function schemeForRange(range: OsvRange, scheme: VersionScheme | undefined): VersionScheme | undefined {
  if (!isObject(range)) return undefined;
  if (range.type === 'SEMVER') return semverVersions;
  if (range.type === 'ECOSYSTEM') return scheme;
  return undefined;
}

/** The lowest limit above the version; undefined when limits exist and none is above it. */
function boundingLimit(p: PreparedRange, scheme: VersionScheme, version: string): PreparedEvent | undefined {
  return p.limits.find((limit) => compareToEvent(scheme, version, limit) < 0);
}

/**
 * Walks the sorted events as the specification does. Only events at or below the version change the
 * state, so the result is decided by the last of them; the event that opened the interval is kept as
 * evidence. Returns the opener's index, or -1 when the version is not affected.
 */
function openingEventIndex(p: PreparedRange, scheme: VersionScheme, version: string): number {
  let opener = -1;
  for (let i = 0; i < p.events.length; i++) {
    const event = p.events[i]!;
    const c = compareToEvent(scheme, version, event);
    if (c < 0) break;
    if (event.kind === 'introduced') {
      if (opener < 0) opener = i;
    } else if (event.kind === 'fixed' || c > 0) {
      opener = -1;
    }
  }
  return opener;
}

function evaluateRange(
  range: OsvRange,
  rangeIndex: number,
  version: string,
  scheme: VersionScheme,
): RangeMatch | undefined {
  const p = prepareRange(range, scheme);
  const limit = p.limits.length > 0 ? boundingLimit(p, scheme, version) : undefined;
  if (p.limits.length > 0 && limit === undefined) return undefined;
  const opener = openingEventIndex(p, scheme, version);
  if (opener < 0) return undefined;
  // Nothing after the opener closed the interval below the version, so the next closing event bounds it.
  const closing = p.events.slice(opener + 1).find((e) => e.kind !== 'introduced');
  return {
    via: 'range',
    rangeType: range.type === 'SEMVER' ? 'SEMVER' : 'ECOSYSTEM',
    rangeIndex,
    introduced: p.events[opener]!.version,
    ...(closing?.kind === 'fixed' ? { fixed: closing.version, fixedVersion: closing.version } : {}),
    ...(closing?.kind === 'last_affected' ? { lastAffected: closing.version } : {}),
    ...(limit !== undefined ? { limit: limit.version } : {}),
    skippedEvents: p.skipped,
  };
}

/** The entry's ranges, keeping record indexes (evidence refers to them); non-objects are skipped by callers. */
function rangesOf(affected: OsvAffected): readonly OsvRange[] {
  return listOf(affected.ranges);
}

function matchRanges(
  affected: OsvAffected,
  version: string,
  scheme: VersionScheme | undefined,
): RangeMatch | undefined {
  const ranges = rangesOf(affected);
  for (let i = 0; i < ranges.length; i++) {
    const range = ranges[i]!;
    const rangeScheme = schemeForRange(range, scheme);
    if (rangeScheme === undefined || !rangeScheme.isValid(version)) continue;
    const match = evaluateRange(range, i, version, rangeScheme);
    if (match !== undefined) return match;
  }
  return undefined;
}

/**
 * The lowest fixed version above `version` in the entry's evaluable ranges, for exact-version matches.
 * Versions ordered by different schemes (a SEMVER range beside an ECOSYSTEM one) are not comparable,
 * so only ranges of the first scheme that offers a candidate are considered.
 */
function lowestFixedAbove(
  affected: OsvAffected,
  version: string,
  scheme: VersionScheme | undefined,
): string | undefined {
  let best: { version: string; scheme: VersionScheme } | undefined;
  for (const range of rangesOf(affected)) {
    const rangeScheme = schemeForRange(range, scheme);
    if (rangeScheme === undefined || (best !== undefined && best.scheme !== rangeScheme)) continue;
    if (!rangeScheme.isValid(version)) continue;
    for (const event of prepareRange(range, rangeScheme).events) {
      if (event.kind !== 'fixed' || rangeScheme.compare(event.version, version) <= 0) continue;
      if (best === undefined || rangeScheme.compare(event.version, best.version) < 0) {
        best = { version: event.version, scheme: rangeScheme };
      }
    }
  }
  return best?.version;
}

/**
 * Whether `version` is affected by this `affected[]` entry, with the evidence; undefined when it is
 * not. `scheme` orders the entry's ECOSYSTEM ranges (see versionSchemeFor); without one only SEMVER
 * ranges and the exact `versions` list can match. Never throws for malformed record data.
 */
export function evaluateAffected(
  affected: OsvAffected,
  version: string,
  scheme: VersionScheme | undefined,
): AffectedMatch | undefined {
  const viaRange = matchRanges(affected, version, scheme);
  if (viaRange !== undefined) return viaRange;
  if (!listOf(affected.versions).includes(version)) return undefined;
  const fixedVersion = lowestFixedAbove(affected, version, scheme);
  return { via: 'versions', version, ...(fixedVersion !== undefined ? { fixedVersion } : {}) };
}

/**
 * Every fixed version named by the entry's SEMVER and ECOSYSTEM ranges, in record order without
 * repeats. GIT ranges are left out: their fixed events are commits, not versions.
 */
export function fixedVersionsOf(affected: OsvAffected): string[] {
  const out: string[] = [];
  for (const range of rangesOf(affected)) {
    if (!isObject(range) || (range.type !== 'SEMVER' && range.type !== 'ECOSYSTEM')) continue;
    for (const event of listOf(range.events)) {
      const fixed = eventKind(event) === 'fixed' ? event.fixed! : undefined;
      if (fixed !== undefined && !out.includes(fixed)) out.push(fixed);
    }
  }
  return out;
}
