// OSV records arrive from feeds Palisade does not control (osv.dev exports, vendor mirrors, files an
// operator drops in), so every one passes through this parser before the importer stores it or the
// matcher reads it. It keeps only the fields Palisade uses, bounds every array and string so one
// hostile record cannot exhaust memory or a database row, and reports the first problem as a single
// line naming the record and the JSON path, so an import log says exactly which record to look at.
//
// Schema reference: https://ossf.github.io/osv-schema/ (copy of the JSON schema in
// test/fixtures/schemas/osv.schema.json).
import { z } from 'zod';

/**
 * Upper bounds on a parsed record. Arrays and identifiers over a bound reject the record (cutting
 * them would silently change which versions are affected); the two prose fields are truncated
 * instead, because they only feed display and losing a whole advisory over a long write-up would
 * hide a real vulnerability.
 */
export const OSV_LIMITS = {
  /** `id` length; real ids are well under 64 characters. */
  idLength: 128,
  /** `aliases` entries; each alias names the same vulnerability in another database. */
  aliases: 1_000,
  /** `related` and `upstream` entries; distribution advisories bundle many upstream CVEs. */
  related: 10_000,
  /** Length of one alias, related or upstream id. */
  referencedIdLength: 256,
  /** `severity` entries, at record or affected level. */
  severities: 32,
  /** Length of a severity `score` (a full CVSS 4.0 vector with every metric is about 200). */
  severityScoreLength: 512,
  /** `affected` entries; large distribution advisories list a few hundred. */
  affected: 10_000,
  /** `ranges` per affected entry. */
  ranges: 1_000,
  /** `events` per range; GIT ranges list one fixed commit per maintained branch. */
  events: 10_000,
  /** `versions` per affected entry; osv.dev expands GIT ranges into tag lists of thousands. */
  versions: 100_000,
  /** Length of one version, event value or commit hash. */
  versionLength: 512,
  /** `references` entries. */
  references: 10_000,
  /** Length of a reference or repository URL. */
  urlLength: 4_096,
  /** Length of `affected[].package.ecosystem` (Red Hat ecosystems carry a CPE suffix). */
  ecosystemLength: 256,
  /** Length of a package name (Go module paths, Maven coordinates, Swift git URLs). */
  nameLength: 1_024,
  /** Length of a package URL. */
  purlLength: 2_048,
  /** `summary` is truncated to this many UTF-8 bytes (the spec recommends about 120 characters). */
  summaryBytes: 1_024,
  /** `details` is truncated to this many UTF-8 bytes (64 KiB). */
  detailsBytes: 65_536,
  /** Nesting depth of a `database_specific` / `ecosystem_specific` object. */
  opaqueDepth: 32,
  /** Values (objects, arrays and scalars) inside one `database_specific` / `ecosystem_specific`. */
  opaqueValues: 100_000,
} as const;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** One event of a range: exactly one of the four kinds, as the schema requires. */
export type OsvEvent =
  { introduced: string } | { fixed: string } | { last_affected: string } | { limit: string };

export type OsvRangeType = 'ECOSYSTEM' | 'SEMVER' | 'GIT';

export interface OsvRange {
  type: OsvRangeType;
  /** Clone URL; present on every GIT range. */
  repo?: string;
  events: OsvEvent[];
}

export interface OsvPackage {
  /** As written, e.g. `Alpine:v3.19`, `PyPI`, `Red Hat:rhel_aus:8.6::appstream`. */
  ecosystem: string;
  /** As written; use `ecosystemKeyOf` (ecosystems.ts) before comparing. */
  name: string;
  purl?: string;
}

/**
 * A severity entry. `type` is kept as written: the schema defines CVSS_V2, CVSS_V3, CVSS_V4 and
 * Ubuntu, and invites new types, so an unknown type is carried (and ignored by severity.ts) rather
 * than rejected. `score` is not validated here: severity.ts skips vectors it cannot score.
 */
export interface OsvSeverity {
  type: string;
  score: string;
}

export interface OsvAffected {
  /** Absent on entries that only carry GIT ranges. */
  package?: OsvPackage;
  severity: OsvSeverity[];
  ranges: OsvRange[];
  versions: string[];
  ecosystem_specific?: JsonObject;
  database_specific?: JsonObject;
}

export interface OsvReference {
  /** ADVISORY, ARTICLE, FIX, WEB, … (kept as written; new types are added over time). */
  type: string;
  /** An absolute URL. Renderers must still restrict schemes before making it a link. */
  url: string;
}

/** The fields of an OSV record that Palisade uses; absent and null arrays become []. */
export interface OsvRecord {
  id: string;
  /** RFC 3339 timestamp as written (UTC `Z` per the spec; numeric offsets are accepted). */
  modified: string;
  published?: string;
  withdrawn?: string;
  schema_version?: string;
  aliases: string[];
  related: string[];
  upstream: string[];
  /** Plain text, control characters removed, at most OSV_LIMITS.summaryBytes. */
  summary?: string;
  /** CommonMark, control characters (except tab and newlines) removed, at most OSV_LIMITS.detailsBytes. */
  details?: string;
  severity: OsvSeverity[];
  affected: OsvAffected[];
  references: OsvReference[];
  database_specific?: JsonObject;
}

/** Why a record was rejected: one line naming the record (when its id is readable) and the path. */
export class OsvRecordError extends Error {
  constructor(
    readonly recordId: string | undefined,
    /** JSON path of the offending value, e.g. `$.affected[3].ranges[0].events[1]`. */
    readonly path: string,
    readonly reason: string,
  ) {
    super(`OSV record ${recordId ?? '(id unknown)'}: ${path}: ${reason}`);
    this.name = 'OsvRecordError';
  }
}

// `<DB>-<ENTRYID>` (or the schema's private `x_` prefix). The database prefix is not checked against
// the schema's list: new databases are added every few months and their records must still import.
// No `/`, whitespace or leading dot, so an id is also safe as a file name or URL path segment.
const ID_PATTERN = /^(?:x_|[A-Za-z][A-Za-z0-9]*-)[A-Za-z0-9][A-Za-z0-9._:+-]*$/;
const GIT_COMMIT = /^(?:0|[a-f0-9]{40}|[a-f0-9]{64})$/;
const EVENT_KINDS = ['introduced', 'fixed', 'last_affected', 'limit'] as const;

function token(max: number) {
  return z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !hasControl(s), 'must not contain control characters');
}

function list<T extends z.ZodType>(item: T, max: number) {
  return z
    .array(item)
    .max(max, `must have at most ${max} entries`)
    .nullish()
    .transform((items): z.output<T>[] => items ?? []);
}

const timestamp = z.iso.datetime({
  offset: true,
  error: 'must be an RFC 3339 date-time, e.g. 2024-01-31T12:00:00Z',
});

const versionString = token(OSV_LIMITS.versionLength);

const urlString = token(OSV_LIMITS.urlLength).refine((s) => URL.canParse(s), 'must be an absolute URL');

/** Bytes-bounded prose: control characters dropped, then cut at a character boundary. */
function prose(maxBytes: number, keepNewlines: boolean) {
  return z.string().transform((s) => truncateUtf8(stripControls(s, keepNewlines), maxBytes));
}

// C0 controls, DEL and C1 controls: never meaningful in identifiers, and terminal escapes in output.
function isControl(code: number): boolean {
  return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (isControl(text.charCodeAt(i))) return true;
  return false;
}

function stripControls(text: string, keepNewlines: boolean): string {
  if (!hasControl(text)) return text;
  let kept = '';
  for (const char of text) {
    const code = char.charCodeAt(0);
    const layout = keepNewlines && (code === 0x09 || code === 0x0a || code === 0x0d);
    if (layout || !isControl(code)) kept += char;
  }
  return kept;
}

/** `text` cut to at most `maxBytes` UTF-8 bytes without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  // A UTF-16 code unit never needs more than 3 UTF-8 bytes, so short strings skip the encoding.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

/** Why a database_specific / ecosystem_specific value is unacceptable, or undefined when it is fine. */
function opaqueObjectProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be a JSON object';
  // Iterative so a deeply nested hostile value cannot overflow the stack here.
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 1 }];
  let seen = 0;
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (++seen > OSV_LIMITS.opaqueValues) return `must hold at most ${OSV_LIMITS.opaqueValues} values`;
    if (current === null || ['string', 'number', 'boolean'].includes(typeof current)) continue;
    if (typeof current !== 'object') return 'must hold only JSON values';
    if (depth > OSV_LIMITS.opaqueDepth) return `must be nested at most ${OSV_LIMITS.opaqueDepth} levels deep`;
    const children = Array.isArray(current) ? (current as unknown[]) : Object.values(current);
    for (const child of children) stack.push({ value: child, depth: depth + 1 });
  }
  return undefined;
}

// Kept by reference, not copied: a copy through a record schema would turn an own `__proto__` key
// from JSON.parse into a prototype change on the copy.
const opaqueObject = z.unknown().check((ctx) => {
  const problem = opaqueObjectProblem(ctx.value);
  if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
}) as unknown as z.ZodType<JsonObject>;

const severitySchema = z.object({
  type: token(64).regex(/^[A-Za-z0-9_.-]+$/, 'must be a severity type name such as CVSS_V3'),
  score: token(OSV_LIMITS.severityScoreLength),
});

const eventSchema = z
  .object({
    introduced: versionString.optional(),
    fixed: versionString.optional(),
    last_affected: versionString.optional(),
    limit: versionString.optional(),
  })
  .check((ctx) => {
    const present = EVENT_KINDS.filter((kind) => ctx.value[kind] !== undefined);
    if (present.length !== 1) {
      const found = present.length === 0 ? 'none' : present.join(', ');
      ctx.issues.push({
        code: 'custom',
        message: `must have exactly one of introduced, fixed, last_affected, limit (found: ${found})`,
        input: ctx.value,
      });
    }
  })
  .transform(toEvent);

function toEvent(event: Partial<Record<(typeof EVENT_KINDS)[number], string>>): OsvEvent {
  if (event.introduced !== undefined) return { introduced: event.introduced };
  if (event.fixed !== undefined) return { fixed: event.fixed };
  if (event.last_affected !== undefined) return { last_affected: event.last_affected };
  return { limit: event.limit! };
}

function eventValue(event: OsvEvent): string {
  return Object.values(event)[0] as string;
}

const rangeSchema = z
  .object({
    type: z.enum(['ECOSYSTEM', 'SEMVER', 'GIT'], { error: 'must be ECOSYSTEM, SEMVER or GIT' }),
    repo: urlString.optional(),
    events: z
      .array(eventSchema)
      .min(1, 'must have at least one event')
      .max(OSV_LIMITS.events, `must have at most ${OSV_LIMITS.events} entries`),
  })
  .check((ctx) => {
    const { type, repo, events } = ctx.value;
    const issue = (message: string, path: PropertyKey[]) =>
      ctx.issues.push({ code: 'custom', message, input: ctx.value, path });
    if (!events.some((event) => 'introduced' in event)) issue('must contain an introduced event', ['events']);
    if (events.some((e) => 'fixed' in e) && events.some((e) => 'last_affected' in e)) {
      issue('must not mix fixed and last_affected events', ['events']);
    }
    if (type !== 'GIT') return;
    if (repo === undefined) issue('is required on GIT ranges', ['repo']);
    const bad = events.findIndex((event) => !GIT_COMMIT.test(eventValue(event)));
    if (bad >= 0) issue('must be "0" or a full-length lowercase commit hash on GIT ranges', ['events', bad]);
  });

const packageSchema = z.object({
  ecosystem: token(OSV_LIMITS.ecosystemLength),
  name: token(OSV_LIMITS.nameLength),
  purl: token(OSV_LIMITS.purlLength).optional(),
});

const affectedSchema = z.object({
  package: packageSchema.optional(),
  severity: list(severitySchema, OSV_LIMITS.severities),
  ranges: list(rangeSchema, OSV_LIMITS.ranges),
  versions: list(versionString, OSV_LIMITS.versions),
  ecosystem_specific: opaqueObject.optional(),
  database_specific: opaqueObject.optional(),
});

const referenceSchema = z.object({
  type: token(64).regex(/^[A-Za-z_]+$/, 'must be a reference type such as ADVISORY'),
  url: urlString,
});

const recordSchema = z.object({
  id: token(OSV_LIMITS.idLength).regex(ID_PATTERN, 'must be an OSV id of the form <DB>-<ENTRYID>'),
  modified: timestamp,
  published: timestamp.optional(),
  withdrawn: timestamp.optional(),
  schema_version: token(32).optional(),
  aliases: list(token(OSV_LIMITS.referencedIdLength), OSV_LIMITS.aliases),
  related: list(token(OSV_LIMITS.referencedIdLength), OSV_LIMITS.related),
  upstream: list(token(OSV_LIMITS.referencedIdLength), OSV_LIMITS.related),
  summary: prose(OSV_LIMITS.summaryBytes, false).optional(),
  details: prose(OSV_LIMITS.detailsBytes, true).optional(),
  severity: list(severitySchema, OSV_LIMITS.severities),
  affected: list(affectedSchema, OSV_LIMITS.affected),
  references: list(referenceSchema, OSV_LIMITS.references),
  database_specific: opaqueObject.optional(),
});

/**
 * Validates one decoded OSV record (the value JSON.parse returned) and returns the fields Palisade
 * uses. Unknown fields are ignored. Throws OsvRecordError for the first problem found.
 */
export function parseOsvRecord(value: unknown): OsvRecord {
  const result = recordSchema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new OsvRecordError(readableId(value), formatPath(issue.path), describe(issue));
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    return issue.input === undefined
      ? 'is required'
      : `must be ${article(issue.expected)} (got ${jsonType(issue.input)})`;
  }
  return issue.message.replace(/\s+/g, ' ').trim();
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

/** The record's id when it is itself valid, so error messages never echo hostile text. */
function readableId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const id = (value as { id?: unknown }).id;
  if (typeof id !== 'string' || id.length > OSV_LIMITS.idLength || !ID_PATTERN.test(id)) return undefined;
  return id;
}

function formatPath(path: readonly PropertyKey[]): string {
  let text = '$';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) text += `.${key}`;
    else text += `[${JSON.stringify(String(key))}]`;
  }
  return text;
}
