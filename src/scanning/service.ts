// Scanning: every pushed image manifest gets a durable analysis job (queued in the push's own
// transaction). The job streams the layers once, catalogs the final filesystem, attaches SPDX and
// CycloneDX SBOMs to the image as OCI referrers and matches the packages against the vulnerability
// database. Matching reads the stored inventory plus any SBOMs users pushed as referrers, so a
// database change re-evaluates images without reading a layer again; what appears or disappears
// is recorded as an event.
import type { Transaction } from 'kysely';
import type { AuditInput, AuditRecorder } from '../audit/audit-log.js';
import type { Database, FindingsTable, ImageAnalysesTable } from '../db/schema.js';
import { organizationOf } from '../identity/capabilities.js';
import type { ClaimedJob, JobStore } from '../jobs/store.js';
import { parseBoundedJson } from '../lib/bounded-json.js';
import { digestOf } from '../lib/digest.js';
import { MediaTypes, type ParsedManifest } from '../registry/manifest.js';
import type { ManifestListener, PushedManifest, RegistryService } from '../registry/service.js';
import { AnalysisError } from './analysis-error.js';
import { LayerWalker, type LayerSource } from './layers/layer-walker.js';
import type { LayerLimits } from './layers/layer-limits.js';
import { AffectedCache } from './affected-cache.js';
import { keysOf, matchCandidates, type Finding } from './matcher.js';
import { catalogers, catalogImage } from './packages/catalogers.js';
import type { Distro, ImageInventory, InstalledPackage } from './packages/package.js';
import { compareRatings, type Rating } from './osv/severity.js';
import { toCycloneDx } from './sbom/cyclonedx.js';
import { inventoryFromSbom } from './sbom/sbom-import.js';
import { toSpdx } from './sbom/spdx.js';
import type { ImageRef, ScanStore } from './store.js';
import { matchJob, MATCH_JOB } from './vulndb/importer.js';

export const ANALYZE_JOB = 'scan.analyze';

export const SBOM_MEDIA_TYPES = {
  spdx: 'application/spdx+json',
  cyclonedx: 'application/vnd.cyclonedx+json',
} as const;
export type SbomFormat = keyof typeof SBOM_MEDIA_TYPES;

/** Marks the referrers Palisade generated, so they are never read back as a user's SBOM. */
export const GENERATOR_ANNOTATION = 'dev.palisade.sbom.generator';

const IMAGE_CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);
const EMPTY_CONFIG = Buffer.from('{}');
/** A user-pushed SBOM larger than this is not read. */
const MAX_SBOM_BYTES = 64 * 1024 * 1024;
/** User SBOMs read per image, and their total size. */
const MAX_USER_SBOMS = 20;
const MAX_USER_SBOM_BYTES = 256 * 1024 * 1024;
/** Finding changes listed in one event; counts are always complete. */
const MAX_EVENT_FINDINGS = 500;

export interface ScanSettings {
  /** Base of SPDX document namespaces (Palisade's URL plus /sbom). */
  namespaceBase: () => string;
  toolVersion: string;
  layerLimits?: Partial<LayerLimits>;
}

export interface AnalysisResult {
  repository: string;
  digest: string;
  status: 'done' | 'failed' | 'skipped';
  packages: number;
  reason?: string;
}

export interface MatchResult {
  packages: number;
  findings: number;
  appeared: number;
  resolved: number;
  /** User SBOMs that could not be read, one line each. */
  errors: string[];
}

export type SeverityCounts = Record<Rating, number>;

export interface ImageReport {
  repository: string;
  digest: string;
  analysis: {
    status: ImageAnalysesTable['status'] | 'none';
    reason?: string;
    message?: string;
    distro?: Distro;
    packages: number;
    analysedAt?: string;
    matchedAt?: string;
    sboms: { spdx?: string; cyclonedx?: string };
  };
  summary: SeverityCounts & { total: number };
  /** True only when the image was analysed and matched and nothing applies. */
  noKnownVulnerabilities: boolean;
  findings: FindingView[];
}

export interface FindingView {
  id: string;
  ids: string[];
  aliases: string[];
  package: { name: string; version: string; type: string; purl: string; ecosystem: string };
  fixedVersion: string | null;
  severity: string;
  score: number | null;
  summary: string | null;
  evidence: unknown;
  firstSeenAt: string;
}

export class ScanService implements ManifestListener {
  /** Called after a commit that queued work (the server points it at the job runner). */
  onQueued: () => void = () => undefined;
  /** Parsed vulnerability entries by package key, refreshed when the database changes. */
  readonly affected: AffectedCache;

  constructor(
    readonly store: ScanStore,
    private readonly registry: RegistryService,
    private readonly jobs: JobStore,
    private readonly audit: AuditRecorder,
    private readonly settings: ScanSettings,
    private readonly clock: () => number = Date.now,
  ) {
    this.affected = new AffectedCache(store);
  }

  // ---- registry listener ------------------------------------------------------------------

  async inTransaction(trx: Transaction<Database>, pushed: PushedManifest): Promise<void> {
    const image = { repository: pushed.repository, digest: pushed.digest };
    if (isImageManifest(pushed.parsed)) {
      // The same manifest pushed again (a re-tag, a retried CI job) has the same content: an
      // analysis done or under way stands. A failed one is tried again (limits may have changed).
      const existing = await this.store.analysis(trx, image);
      if (existing && existing.status !== 'failed') {
        const job = await this.jobs.find(trx, analyzeJob(image).key);
        if (existing.status === 'done' || job?.state !== 'failed') return;
      }
      await this.store.queueAnalysis(trx, image, this.clock());
      await this.jobs.enqueue(trx, analyzeJob(image), this.clock());
      return;
    }
    const subject = pushed.parsed.subject?.digest;
    if (subject && isUserSbom(pushed.parsed)) {
      await this.jobs.enqueue(
        trx,
        matchJob({ repository: pushed.repository, digest: subject }),
        this.clock(),
      );
    }
  }

  committed(pushed: PushedManifest): void {
    if (isImageManifest(pushed.parsed) || (pushed.parsed.subject && isUserSbom(pushed.parsed)))
      this.onQueued();
  }

  async deleted(trx: Transaction<Database>, repository: string, digest: string): Promise<void> {
    await this.store.forgetImage(trx, { repository, digest });
  }

  /** The job handlers this service provides, by kind. */
  handlers(): Record<string, (job: ClaimedJob) => Promise<unknown>> {
    return {
      [ANALYZE_JOB]: (job) => this.analyze(job.payload as ImageRef),
      [MATCH_JOB]: (job) => this.match(job.payload as ImageRef),
    };
  }

  // ---- analysis ---------------------------------------------------------------------------

  async analyze(image: ImageRef): Promise<AnalysisResult> {
    const manifest = await this.registry.store.getManifest(
      this.registry.store.db,
      image.repository,
      image.digest,
    );
    if (!manifest) {
      await this.store.transaction((trx) => this.store.forgetImage(trx, image));
      return { ...image, status: 'skipped', packages: 0, reason: 'the manifest no longer exists' };
    }
    await this.store.queueAnalysis(this.store.db, image, this.clock());
    await this.store.updateAnalysis(this.store.db, image, { status: 'running', updated_at: this.clock() });
    let inventory: ImageInventory;
    let layerBytes = 0;
    try {
      const layers = layersOf(manifest.payload);
      const walker = new LayerWalker(catalogers, this.settings.layerLimits);
      const walked = await walker.walk(layers.map((layer) => this.layerSource(layer)));
      layerBytes = walked.stats.compressedBytes;
      inventory = catalogImage(walked.files);
    } catch (error) {
      if (!(error instanceof AnalysisError)) throw error;
      await this.recordFailure(image, error);
      return { ...image, status: 'failed', packages: 0, reason: error.reason };
    }
    const analysedAt = this.clock();
    const previous = await this.store.analysis(this.store.db, image);
    const sboms = await this.attachSboms(image, inventory, analysedAt);
    await this.store.transaction(async (trx) => {
      await this.store.updateAnalysis(trx, image, {
        status: 'done',
        failure_reason: null,
        failure_message: null,
        distro: inventory.distro ? JSON.stringify(inventory.distro) : null,
        inventory: JSON.stringify(inventory.packages),
        package_count: inventory.packages.length,
        spdx_digest: sboms.spdx,
        cyclonedx_digest: sboms.cyclonedx,
        layer_bytes: layerBytes,
        analysed_at: analysedAt,
        // Not matched until the match job queued below has run on this inventory.
        matched_at: null,
        updated_at: analysedAt,
      });
      // Matching runs as its own job (one per image at a time, whoever asks for it).
      await this.jobs.enqueue(trx, matchJob(image), analysedAt);
      await this.audit.record(
        trx,
        this.event('analysis.completed', image, {
          distro: inventory.distro ?? null,
          packages: inventory.packages.length,
          by_type: countBy(inventory.packages, (p) => p.type),
          layer_bytes: layerBytes,
          sboms: { spdx: sboms.spdx, cyclonedx: sboms.cyclonedx },
        }),
      );
    });
    await this.removeOldSboms(image, previous, sboms);
    return { ...image, status: 'done', packages: inventory.packages.length };
  }

  private layerSource(layer: LayerDescriptor): LayerSource {
    return {
      digest: layer.digest,
      mediaType: layer.mediaType,
      open: async () => {
        if (!(await this.registry.blobs.stat(layer.digest))) {
          throw new AnalysisError(
            'unsupported-layer',
            `layer ${layer.digest} is not stored in this registry (a foreign or non-distributable layer?)`,
          );
        }
        return this.registry.blobs.read(layer.digest);
      },
    };
  }

  private async recordFailure(image: ImageRef, error: AnalysisError): Promise<void> {
    const now = this.clock();
    await this.store.transaction(async (trx) => {
      await this.store.updateAnalysis(trx, image, {
        status: 'failed',
        failure_reason: error.reason,
        failure_message: error.message.slice(0, 1000),
        analysed_at: now,
        matched_at: null,
        updated_at: now,
      });
      await this.jobs.enqueue(trx, matchJob(image), now);
      await this.audit.record(trx, {
        ...this.event('analysis.failed', image, {
          reason: error.reason,
          message: error.message.slice(0, 1000),
        }),
        outcome: 'failure',
      });
    });
  }

  /** Pushes both SBOMs as referrers of the image; returns their manifest digests. */
  private async attachSboms(
    image: ImageRef,
    inventory: ImageInventory,
    created: number,
  ): Promise<{ spdx: string; cyclonedx: string }> {
    const input = {
      image,
      inventory,
      created: new Date(created),
      tool: { name: 'palisade', version: this.settings.toolVersion },
      namespaceBase: this.settings.namespaceBase(),
    };
    const subject = await this.registry.store.getManifest(
      this.registry.store.db,
      image.repository,
      image.digest,
    );
    if (!subject) throw new Error(`manifest ${image.repository}@${image.digest} disappeared during analysis`);
    const push = async (format: SbomFormat, document: object): Promise<string> => {
      const bytes = Buffer.from(JSON.stringify(document));
      const blob = await this.registry.putBlob(image.repository, bytes);
      const config = await this.registry.putBlob(image.repository, EMPTY_CONFIG);
      const manifest = {
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        artifactType: SBOM_MEDIA_TYPES[format],
        config: { mediaType: MediaTypes.ociEmpty, digest: config.digest, size: config.size, data: 'e30=' },
        layers: [{ mediaType: SBOM_MEDIA_TYPES[format], digest: blob.digest, size: blob.size }],
        subject: { mediaType: subject.mediaType, digest: image.digest, size: subject.size },
        annotations: {
          'org.opencontainers.image.created': new Date(created).toISOString(),
          [GENERATOR_ANNOTATION]: `palisade ${this.settings.toolVersion}`,
        },
      };
      const payload = Buffer.from(JSON.stringify(manifest));
      const reference = { kind: 'digest' as const, digest: this.registry.parseDigest(digestOf(payload)) };
      return (
        await this.registry.putManifest(image.repository, reference, [], MediaTypes.ociManifest, payload)
      ).digest;
    };
    return {
      spdx: await push('spdx', toSpdx(input)),
      cyclonedx: await push('cyclonedx', toCycloneDx(input)),
    };
  }

  private async removeOldSboms(
    image: ImageRef,
    previous: ImageAnalysesTable | undefined,
    current: { spdx: string; cyclonedx: string },
  ): Promise<void> {
    for (const old of [previous?.spdx_digest, previous?.cyclonedx_digest]) {
      if (!old || old === current.spdx || old === current.cyclonedx) continue;
      // Deletes may be disabled on this registry; then the old SBOMs simply stay as referrers.
      await this.registry
        .deleteManifest(image.repository, { kind: 'digest', digest: this.registry.parseDigest(old) })
        .catch(() => undefined);
    }
  }

  // ---- matching ---------------------------------------------------------------------------

  /** Re-evaluates the image from its stored inventory and user SBOMs; records what changed. */
  async match(image: ImageRef): Promise<MatchResult> {
    const analysis = await this.store.analysis(this.store.db, image);
    const errors: string[] = [];
    const userSboms = await this.userSboms(image, errors);
    const distro = analysis?.distro
      ? (JSON.parse(analysis.distro) as Distro)
      : userSboms.find((inventory) => inventory.distro)?.distro;
    const packages = uniqueByPurl([
      ...(analysis?.inventory ? (JSON.parse(analysis.inventory) as InstalledPackage[]) : []),
      ...userSboms.flatMap((inventory) => inventory.packages),
    ]).filter((pkg) => {
      // What a finding row can hold (the same on both databases); a user's SBOM may say more.
      const fits = pkg.purl.length <= 1000 && pkg.name.length <= 300 && pkg.version.length <= 300;
      if (!fits) errors.push(`package ${pkg.purl.slice(0, 100)}…: name, version or purl too long to match`);
      return fits;
    });
    const { unique } = keysOf(packages, distro);
    const findings = matchCandidates(packages, distro, await this.affected.candidates(unique));
    const now = this.clock();
    let appeared: FindingsTable[] = [];
    let resolved: FindingsTable[] = [];
    await this.store.transaction(async (trx) => {
      if (!(await this.registry.store.getManifest(trx, image.repository, image.digest))) return;
      const before = new Map((await this.store.findings(trx, image)).map((f) => [findingKey(f), f]));
      const after = findings.map((f) => toRow(image, f, before, now));
      appeared = after.filter((f) => !before.has(findingKey(f)));
      const afterKeys = new Set(after.map(findingKey));
      resolved = [...before.values()].filter((f) => !afterKeys.has(findingKey(f)));
      await this.store.replaceImageKeys(trx, image, unique);
      await this.store.replaceFindings(trx, image, after);
      if (analysis) await this.store.updateAnalysis(trx, image, { matched_at: now });
      if (appeared.length > 0 || resolved.length > 0) {
        await this.audit.record(
          trx,
          this.event('findings.changed', image, {
            appeared_count: appeared.length,
            resolved_count: resolved.length,
            appeared: appeared.slice(0, MAX_EVENT_FINDINGS).map(brief),
            resolved: resolved.slice(0, MAX_EVENT_FINDINGS).map(brief),
            total: after.length,
          }),
        );
      }
    });
    return {
      packages: packages.length,
      findings: findings.length,
      appeared: appeared.length,
      resolved: resolved.length,
      errors,
    };
  }

  /** What SBOMs users pushed as referrers of the image say it holds. */
  private async userSboms(image: ImageRef, errors: string[]): Promise<ImageInventory[]> {
    const referrers = await this.registry.store.referrers(
      this.registry.store.db,
      image.repository,
      image.digest,
    );
    const out: ImageInventory[] = [];
    let read = 0;
    let bytes = 0;
    for (const referrer of referrers) {
      const mediaType = referrer.artifact_type;
      if (mediaType !== SBOM_MEDIA_TYPES.spdx && mediaType !== SBOM_MEDIA_TYPES.cyclonedx) continue;
      const annotations = referrer.annotations
        ? (JSON.parse(referrer.annotations) as Record<string, string>)
        : {};
      if (annotations[GENERATOR_ANNOTATION] !== undefined) continue;
      // Every re-evaluation reads them again: a bounded number and size per image.
      if (++read > MAX_USER_SBOMS) {
        errors.push(`more than ${MAX_USER_SBOMS} SBOMs are attached; the rest are not read`);
        break;
      }
      try {
        const manifest = await this.registry.store.getManifest(
          this.registry.store.db,
          image.repository,
          referrer.digest,
        );
        const layer = manifest ? layersOf(manifest.payload)[0] : undefined;
        if (!layer) continue;
        bytes += layer.size;
        if (layer.size > MAX_SBOM_BYTES || bytes > MAX_USER_SBOM_BYTES) {
          throw new Error(
            `over the limit of ${MAX_SBOM_BYTES} bytes per SBOM and ${MAX_USER_SBOM_BYTES} per image`,
          );
        }
        const chunks: Buffer[] = [];
        for await (const chunk of await this.registry.blobs.read(layer.digest)) chunks.push(chunk as Buffer);
        const document = parseBoundedJson(Buffer.concat(chunks).toString('utf8'));
        out.push(inventoryFromSbom(document, mediaType));
      } catch (error) {
        errors.push(`SBOM ${referrer.digest}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return out;
  }

  // ---- reports ----------------------------------------------------------------------------

  async report(image: ImageRef): Promise<ImageReport> {
    let analysis = await this.store.analysis(this.store.db, image);
    if (analysis && (analysis.status === 'queued' || analysis.status === 'running')) {
      // A job that gave up (e.g. its storage failed on every attempt) leaves the row mid-way.
      const job = await this.jobs.find(this.jobs.db, analyzeJob(image).key);
      if (job?.state === 'failed') {
        analysis = {
          ...analysis,
          status: 'failed',
          failure_reason: 'job-failed',
          failure_message: `the analysis job failed after ${job.attempts} attempts; the server log has the error`,
        };
      }
    }
    const rows = await this.store.findings(this.store.db, image);
    const findings = rows
      .map(view)
      .sort(
        (a, b) =>
          compareRatings(a.severity as Rating, b.severity as Rating) ||
          (b.score ?? -1) - (a.score ?? -1) ||
          (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      );
    const summary = { critical: 0, high: 0, medium: 0, low: 0, none: 0, unknown: 0, total: findings.length };
    for (const finding of findings) summary[finding.severity as Rating]++;
    const matched = analysis?.matched_at !== null && analysis?.matched_at !== undefined;
    return {
      ...image,
      analysis: analysis
        ? {
            status: analysis.status,
            ...(analysis.failure_reason ? { reason: analysis.failure_reason } : {}),
            ...(analysis.failure_message ? { message: analysis.failure_message } : {}),
            ...(analysis.distro ? { distro: JSON.parse(analysis.distro) as Distro } : {}),
            packages: analysis.package_count,
            ...(analysis.analysed_at ? { analysedAt: new Date(analysis.analysed_at).toISOString() } : {}),
            ...(analysis.matched_at ? { matchedAt: new Date(analysis.matched_at).toISOString() } : {}),
            sboms: {
              ...(analysis.spdx_digest ? { spdx: analysis.spdx_digest } : {}),
              ...(analysis.cyclonedx_digest ? { cyclonedx: analysis.cyclonedx_digest } : {}),
            },
          }
        : { status: 'none', packages: 0, sboms: {} },
      summary,
      noKnownVulnerabilities: analysis?.status === 'done' && matched && findings.length === 0,
      findings,
    };
  }

  /** The SBOM document Palisade attached to the image, as stored. */
  async sbom(image: ImageRef, format: SbomFormat): Promise<Buffer | undefined> {
    const analysis = await this.store.analysis(this.store.db, image);
    const digest = format === 'spdx' ? analysis?.spdx_digest : analysis?.cyclonedx_digest;
    if (!digest) return undefined;
    const manifest = await this.registry.store.getManifest(this.registry.store.db, image.repository, digest);
    const layer = manifest ? layersOf(manifest.payload)[0] : undefined;
    if (!layer) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of await this.registry.blobs.read(layer.digest)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  private event(verb: string, image: ImageRef, body: Record<string, unknown>): AuditInput {
    return {
      type: `dev.palisade.scanning.${verb}.v1`,
      subject: `${image.repository}@${image.digest}`,
      org: organizationOf(image.repository),
      body: { repository: image.repository, digest: image.digest, ...body },
    };
  }
}

export function analyzeJob(image: ImageRef) {
  return { kind: ANALYZE_JOB, key: `${ANALYZE_JOB}:${image.repository}@${image.digest}`, payload: image };
}

interface LayerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** The layers of an image manifest (stored manifests were validated when pushed). */
function layersOf(payload: Buffer): LayerDescriptor[] {
  const manifest = JSON.parse(payload.toString('utf8')) as { layers?: LayerDescriptor[] };
  return (manifest.layers ?? []).filter((l) => !/nondistributable|foreign/.test(l.mediaType));
}

function isImageManifest(parsed: ParsedManifest): boolean {
  return (
    (parsed.mediaType === MediaTypes.ociManifest || parsed.mediaType === MediaTypes.dockerManifest) &&
    parsed.artifactType !== undefined &&
    IMAGE_CONFIG_TYPES.has(parsed.artifactType)
  );
}

function isUserSbom(parsed: ParsedManifest): boolean {
  return (
    (parsed.artifactType === SBOM_MEDIA_TYPES.spdx || parsed.artifactType === SBOM_MEDIA_TYPES.cyclonedx) &&
    parsed.annotations?.[GENERATOR_ANNOTATION] === undefined
  );
}

function uniqueByPurl(packages: InstalledPackage[]): InstalledPackage[] {
  const seen = new Map<string, InstalledPackage>();
  for (const pkg of packages) if (!seen.has(pkg.purl)) seen.set(pkg.purl, pkg);
  return [...seen.values()];
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

function findingKey(f: { vuln_id: string; purl: string }): string {
  return `${f.vuln_id}\u0000${f.purl}`;
}

function toRow(image: ImageRef, f: Finding, before: Map<string, FindingsTable>, now: number): FindingsTable {
  const key = `${f.vulnId}\u0000${f.package.purl}`;
  return {
    repository: image.repository,
    digest: image.digest,
    vuln_id: f.vulnId,
    purl: f.package.purl,
    ids: JSON.stringify(f.ids),
    aliases: JSON.stringify(f.aliases),
    package_name: f.package.name,
    package_version: f.package.version,
    ecosystem: f.package.ecosystem,
    fixed_version: f.fixedVersion !== undefined && f.fixedVersion.length <= 300 ? f.fixedVersion : null,
    severity: f.severity.rating,
    score: f.severity.score ?? null,
    summary: f.summary?.slice(0, 1000) ?? null,
    evidence: JSON.stringify(f.evidence),
    first_seen_at: before.get(key)?.first_seen_at ?? now,
  };
}

function brief(f: FindingsTable) {
  return { id: f.vuln_id, purl: f.purl, severity: f.severity, fixed_version: f.fixed_version };
}

function view(f: FindingsTable): FindingView {
  return {
    id: f.vuln_id,
    ids: JSON.parse(f.ids) as string[],
    aliases: JSON.parse(f.aliases) as string[],
    package: {
      name: f.package_name,
      version: f.package_version,
      type: f.purl.slice(4, f.purl.indexOf('/')),
      purl: f.purl,
      ecosystem: f.ecosystem,
    },
    fixedVersion: f.fixed_version,
    severity: f.severity,
    score: f.score,
    summary: f.summary,
    evidence: JSON.parse(f.evidence) as unknown,
    firstSeenAt: new Date(f.first_seen_at).toISOString(),
  };
}
