// Registry logic: uploads, blobs, manifests, tags, referrers and listings, independent of HTTP.
// Blob bytes become durable in the BlobStore first; metadata commits after, in one transaction,
// so a crash leaves at worst an invisible blob that garbage collection removes.
import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { AuditInput, AuditRecorder } from '../audit/audit-log.js';
import type { Database } from '../db/schema.js';
import { organizationOf } from '../identity/capabilities.js';
import { Readable, type Writable } from 'node:stream';
import { digestOf, parseDigest, type ParsedDigest } from '../lib/digest.js';
import { KeyedMutex } from '../lib/keyed-mutex.js';
import {
  AppendSizeError,
  DigestMismatchError,
  OffsetMismatchError,
  UploadNotFoundError,
  type BlobStore,
  type ByteRange,
} from '../storage/blob-store.js';
import { OciError, blobUnknown, manifestUnknown, nameUnknown, uploadUnknown } from './errors.js';
import { MediaTypes, parseManifest, type Descriptor, type ParsedManifest } from './manifest.js';
import { isValidRepositoryName, isValidTag } from './names.js';
import type { RegistryStore } from './store.js';

export interface RegistryOptions {
  /** Largest blob accepted, in bytes. */
  maxBlobBytes: number;
  /** Largest manifest accepted, in bytes (the spec suggests 4 MiB). */
  maxManifestBytes: number;
  /** Whether DELETE of manifests, tags and blobs is enabled. */
  deleteEnabled: boolean;
  /** Garbage-collection grace period; reads refresh a blob's clock when half of it has passed. */
  gcGracePeriodMs: number;
  /** Default and largest page size for tag and catalog listings. */
  maxPageSize: number;
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: ParsedDigest };

export interface ManifestResult {
  digest: string;
  mediaType: string;
  size: number;
  payload: Buffer;
  subject: string | null;
}

export interface UploadProgress {
  id: string;
  size: number;
}

export interface ContentRange {
  start: number;
  end: number;
}

/** A manifest stored by a push, as listeners see it. */
export interface PushedManifest {
  repository: string;
  digest: string;
  payload: Buffer;
  parsed: ParsedManifest;
}

/**
 * Work that follows a push (e.g. queueing its analysis). `inTransaction` runs in the push's own
 * transaction, so what it writes is durable exactly when the push is; `committed` runs after.
 */
export interface ManifestListener {
  inTransaction(trx: Transaction<Database>, pushed: PushedManifest): Promise<void>;
  committed(pushed: PushedManifest): void;
  deleted(trx: Transaction<Database>, repository: string, digest: string): Promise<void>;
}

export class RegistryService {
  /** Serialises blob commits with garbage collection of the same digest. */
  readonly digestLocks = new KeyedMutex();
  readonly listeners: ManifestListener[] = [];

  constructor(
    readonly store: RegistryStore,
    readonly blobs: BlobStore,
    readonly options: RegistryOptions,
    private readonly audit: AuditRecorder,
    private readonly clock: () => number = Date.now,
  ) {}

  private eventInput(
    verb: string,
    repository: string,
    subject: string,
    body: Record<string, unknown>,
  ): AuditInput {
    return {
      type: `dev.palisade.registry.${verb}.v1`,
      subject,
      org: organizationOf(repository),
      body: { repository, ...body },
    };
  }

  /** Records a registry event in the transaction that makes the change. */
  private event(
    trx: Transaction<Database>,
    verb: string,
    repository: string,
    subject: string,
    body: Record<string, unknown>,
  ) {
    return this.audit.record(trx, {
      type: `dev.palisade.registry.${verb}.v1`,
      subject,
      org: organizationOf(repository),
      body: { repository, ...body },
    });
  }

  // ---- names and references -------------------------------------------------------------

  checkName(name: string): void {
    if (!isValidRepositoryName(name)) {
      throw new OciError(
        'NAME_INVALID',
        'invalid repository name: use lowercase path components [a-z0-9] separated by ".", "_", "__", "-" or "/", at most 255 characters',
        { detail: { name: name.slice(0, 300) } },
      );
    }
  }

  parseReference(reference: string): Reference {
    if (reference.includes(':')) return { kind: 'digest', digest: this.parseDigest(reference) };
    if (!isValidTag(reference)) {
      throw new OciError(
        'MANIFEST_INVALID',
        'invalid tag: use up to 128 characters [A-Za-z0-9_.-], not starting with "." or "-"',
        { detail: { tag: reference.slice(0, 200) } },
      );
    }
    return { kind: 'tag', tag: reference };
  }

  parseDigest(value: string): ParsedDigest {
    const parsed = parseDigest(value);
    if (parsed === 'unsupported') {
      throw new OciError('DIGEST_INVALID', 'unsupported digest algorithm: use sha256 or sha512', {
        detail: { digest: value.slice(0, 200) },
      });
    }
    if (parsed === 'invalid') {
      throw new OciError('DIGEST_INVALID', 'invalid digest: expected sha256:<64 hex> or sha512:<128 hex>', {
        detail: { digest: value.slice(0, 200) },
      });
    }
    return parsed;
  }

  // ---- blobs --------------------------------------------------------------------------------

  /** Size of a blob readable in the repository; refreshes its GC clock when it is getting old. */
  async blobSize(repository: string, digest: string): Promise<number> {
    const row = await this.store.blobUsage(this.store.db, repository, digest);
    if (!row) throw blobUnknown(digest);
    const now = this.clock();
    if (now - row.lastUsedAt > this.options.gcGracePeriodMs / 2) {
      // A client that saw this blob exists may reference it next; keep GC away for a while.
      await this.store.touchBlob(this.store.db, digest, now);
    }
    return row.size;
  }

  /**
   * Writes a blob into an HTTP response. `ready` runs once the blob is readable, so the caller can
   * still answer BLOB_UNKNOWN (never a path) when the store lost what the metadata promises.
   */
  async sendBlob(digest: string, destination: Writable, range: ByteRange | undefined, ready: () => void) {
    let started = false;
    try {
      await this.blobs.sendTo(digest, destination, {
        range,
        ready: () => {
          started = true;
          ready();
        },
      });
    } catch (error) {
      if (!started) throw blobUnknown(digest);
      throw error;
    }
  }

  async deleteBlob(repository: string, digest: string): Promise<void> {
    this.requireDelete();
    this.parseDigest(digest);
    const removed = await this.store.transaction(async (trx) => {
      const unlinked = await this.store.unlinkBlob(trx, repository, digest);
      if (unlinked) await this.event(trx, 'blob.deleted', repository, `${repository}@${digest}`, { digest });
      return unlinked;
    });
    if (!removed) throw blobUnknown(digest);
  }

  // ---- uploads ------------------------------------------------------------------------------

  async startUpload(repository: string): Promise<UploadProgress> {
    const id = randomUUID();
    await this.blobs.createUpload(id);
    try {
      await this.store.transaction(async (trx) => {
        await this.store.createUpload(trx, id, repository, this.clock());
        await this.event(trx, 'upload.started', repository, `${repository}/uploads/${id}`, { upload: id });
      });
    } catch (error) {
      await this.blobs.abort(id);
      throw error;
    }
    return { id, size: 0 };
  }

  /** Links an existing blob from another repository; undefined when a normal upload is needed. */
  async mount(repository: string, digest: string, from: string): Promise<string | undefined> {
    if (typeof parseDigest(digest) !== 'object' || !isValidRepositoryName(from)) return undefined;
    const size = (await this.store.blobUsage(this.store.db, from, digest))?.size;
    if (size === undefined) return undefined;
    return this.digestLocks.run(digest, async () => {
      if (!(await this.blobs.stat(digest))) return undefined;
      await this.store.transaction(async (trx) => {
        await this.store.linkBlob(trx, repository, digest, size, this.clock());
        await this.event(trx, 'blob.mounted', repository, `${repository}@${digest}`, { digest, size, from });
      });
      return digest;
    });
  }

  /** Stores a small blob Palisade itself produces (e.g. an SBOM), verified like any upload. */
  async putBlob(repository: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
    const digest = digestOf(bytes);
    const id = randomUUID();
    await this.blobs.createUpload(id);
    try {
      await this.appendBytes(id, 0, Readable.from([bytes]), bytes.length);
      await this.commitBlob(repository, id, digest, false);
    } finally {
      await this.blobs.abort(id);
    }
    return { digest, size: bytes.length };
  }

  /** POST ?digest=: the whole blob in one request, verified while it streams. */
  async monolithicUpload(
    repository: string,
    digestValue: string,
    body: Readable,
    contentLength: number | undefined,
  ): Promise<string> {
    const digest = this.parseDigest(digestValue).digest;
    this.checkDeclaredLength(contentLength);
    const id = randomUUID();
    await this.blobs.createUpload(id);
    try {
      await this.appendBytes(id, 0, body, contentLength);
      return await this.commitBlob(repository, id, digest, false);
    } finally {
      await this.blobs.abort(id);
    }
  }

  async uploadStatus(repository: string, id: string): Promise<UploadProgress> {
    await this.requireUpload(repository, id);
    const size = await this.blobs.uploadSize(id);
    if (size === undefined) throw uploadUnknown(id);
    return { id, size };
  }

  /** PATCH: appends a chunk (with Content-Range) or a stream (without) to an upload. */
  async appendChunk(
    repository: string,
    id: string,
    body: Readable,
    range: ContentRange | undefined,
    contentLength: number | undefined,
  ): Promise<UploadProgress> {
    await this.requireUpload(repository, id);
    const size = await this.appendToUpload(id, body, range, contentLength);
    await this.store.transaction(async (trx) => {
      await this.store.touchUpload(trx, id, this.clock());
      await this.event(trx, 'upload.appended', repository, `${repository}/uploads/${id}`, {
        upload: id,
        size,
      });
    });
    return { id, size };
  }

  /** PUT ?digest=: optional last chunk, then verification and commit. */
  async completeUpload(
    repository: string,
    id: string,
    digestValue: string,
    body: Readable | undefined,
    range: ContentRange | undefined,
    contentLength: number | undefined,
  ): Promise<string> {
    const digest = this.parseDigest(digestValue).digest;
    await this.requireUpload(repository, id);
    if (body && (contentLength ?? 0) > 0) {
      await this.appendToUpload(id, body, range, contentLength);
    } else if (body) {
      body.resume();
    }
    return this.commitBlob(repository, id, digest, true);
  }

  private async appendToUpload(
    id: string,
    body: Readable,
    range: ContentRange | undefined,
    contentLength: number | undefined,
  ): Promise<number> {
    const current = await this.blobs.uploadSize(id);
    if (current === undefined) throw uploadUnknown(id);
    let expected = contentLength;
    if (range) {
      if (range.start !== current) throw this.rangeError(id, current);
      const length = range.end - range.start + 1;
      if (contentLength !== undefined && contentLength !== length) {
        throw new OciError(
          'SIZE_INVALID',
          `Content-Length ${contentLength} does not match Content-Range length ${length}`,
        );
      }
      expected = length;
    }
    this.checkDeclaredLength(expected === undefined ? undefined : current + expected);
    return this.appendBytes(id, current, body, expected);
  }

  async cancelUpload(repository: string, id: string): Promise<void> {
    await this.requireUpload(repository, id);
    await this.store.transaction(async (trx) => {
      await this.store.deleteUpload(trx, id);
      await this.event(trx, 'upload.cancelled', repository, `${repository}/uploads/${id}`, { upload: id });
    });
    await this.blobs.abort(id);
  }

  private async requireUpload(repository: string, id: string): Promise<void> {
    const row = await this.store.getUpload(this.store.db, id);
    if (!row || row.repository !== repository) throw uploadUnknown(id);
  }

  private rangeError(id: string, current: number): OciError {
    return new OciError('RANGE_INVALID', `chunk out of order: the upload is at byte ${current}`, {
      headers: { Range: `0-${Math.max(current - 1, 0)}`, 'Docker-Upload-UUID': id },
    });
  }

  private checkDeclaredLength(total: number | undefined): void {
    if (total !== undefined && total > this.options.maxBlobBytes) {
      throw new OciError('SIZE_INVALID', `blob larger than the ${this.options.maxBlobBytes}-byte limit`, {
        status: 413,
      });
    }
  }

  private async appendBytes(id: string, offset: number, body: Readable, expected: number | undefined) {
    try {
      return await this.blobs.append(id, offset, body, {
        maxBytes: Math.min(expected ?? Number.POSITIVE_INFINITY, this.options.maxBlobBytes - offset),
        expectedBytes: expected,
      });
    } catch (error) {
      if (error instanceof OffsetMismatchError) throw this.rangeError(id, error.currentSize);
      if (error instanceof UploadNotFoundError) throw uploadUnknown(id);
      if (error instanceof AppendSizeError) {
        if (expected !== undefined && error.received !== expected) {
          throw new OciError(
            'SIZE_INVALID',
            `received ${error.received > expected ? 'more' : 'fewer'} bytes than the ${expected} declared; the chunk was discarded`,
          );
        }
        throw new OciError('SIZE_INVALID', `blob larger than the ${this.options.maxBlobBytes}-byte limit`, {
          status: 413,
        });
      }
      throw new OciError(
        'BLOB_UPLOAD_INVALID',
        'the upload body ended early or could not be read; the chunk was discarded',
      );
    }
  }

  /** Verifies and stores the upload as a blob of the repository; `session` rows go in the same transaction. */
  private commitBlob(repository: string, id: string, digest: string, session: boolean): Promise<string> {
    return this.digestLocks.run(digest, async () => {
      let size: number;
      try {
        size = (await this.blobs.commit(id, digest)).size;
      } catch (error) {
        if (error instanceof DigestMismatchError) {
          throw new OciError('DIGEST_INVALID', 'uploaded content does not match the digest', {
            detail: { expected: digest, actual: error.actual },
          });
        }
        if (error instanceof UploadNotFoundError) throw uploadUnknown(id);
        throw error;
      }
      await this.store.transaction(async (trx) => {
        await this.store.linkBlob(trx, repository, digest, size, this.clock());
        if (session) await this.store.deleteUpload(trx, id);
        await this.event(trx, 'blob.pushed', repository, `${repository}@${digest}`, { digest, size });
      });
      return digest;
    });
  }

  // ---- manifests ----------------------------------------------------------------------------

  async getManifest(repository: string, reference: Reference): Promise<ManifestResult> {
    const record =
      reference.kind === 'tag'
        ? await this.store.getManifestByTag(this.store.db, repository, reference.tag)
        : await this.store.getManifest(this.store.db, repository, reference.digest.digest);
    if (!record) {
      const ref = reference.kind === 'tag' ? reference.tag : reference.digest.digest;
      throw manifestUnknown(ref);
    }
    return record;
  }

  async putManifest(
    repository: string,
    reference: Reference,
    extraTags: string[],
    contentType: string | undefined,
    payload: Buffer,
  ): Promise<{ digest: string; subject: string | undefined }> {
    if (payload.length > this.options.maxManifestBytes) {
      throw new OciError('SIZE_INVALID', `manifest larger than ${this.options.maxManifestBytes} bytes`, {
        status: 413,
      });
    }
    for (const tag of extraTags) this.parseReference(tag);
    let digest: string;
    if (reference.kind === 'digest') {
      digest = digestOf(payload, reference.digest.algorithm);
      if (digest !== reference.digest.digest) {
        throw new OciError('DIGEST_INVALID', 'manifest content does not match the digest in the URL', {
          detail: { expected: reference.digest.digest, actual: digest },
        });
      }
    } else {
      digest = digestOf(payload);
    }
    const parsed = parseManifest(payload, contentType);
    const tags = [...(reference.kind === 'tag' ? [reference.tag] : []), ...extraTags];
    const now = this.clock();

    await this.store.transaction(async (trx) => {
      const blobDigests = parsed.blobs.map((d) => d.digest);
      const foundBlobs = await this.store.claimLinkedBlobs(trx, repository, blobDigests, now);
      checkReferences(parsed.blobs, foundBlobs, 'blob');
      const childDigests = parsed.children.map((d) => d.digest);
      const foundChildren = await this.store.claimManifests(trx, repository, childDigests, now);
      checkReferences(parsed.children, foundChildren, 'manifest');
      const manifest = {
        repository,
        digest,
        mediaType: parsed.mediaType,
        artifactType: parsed.artifactType ?? null,
        subject: parsed.subject?.digest ?? null,
        annotations: parsed.annotations ? JSON.stringify(parsed.annotations) : null,
        payload,
        blobDigests,
        childDigests,
      };
      const before = new Map<string, string | undefined>();
      for (const tag of tags) before.set(tag, await this.store.tagTarget(trx, repository, tag));
      await this.store.putManifest(trx, manifest, tags[0], now);
      for (const tag of tags.slice(1)) await this.store.putManifest(trx, manifest, tag, now);
      // One append for the push and its tag moves: one head lock, one insert, one head update.
      const events: AuditInput[] = [
        this.eventInput('manifest.pushed', repository, `${repository}@${digest}`, {
          digest,
          media_type: parsed.mediaType,
          artifact_type: parsed.artifactType ?? null,
          subject: parsed.subject?.digest ?? null,
          size: payload.length,
          tags,
        }),
      ];
      for (const [tag, previous] of before) {
        if (previous === digest) continue;
        events.push(
          this.eventInput('tag.updated', repository, `${repository}:${tag}`, {
            tag,
            before: previous ?? null,
            after: digest,
          }),
        );
      }
      await this.audit.recordMany(trx, events);
      for (const listener of this.listeners)
        await listener.inTransaction(trx, { repository, digest, payload, parsed });
    });
    for (const listener of this.listeners) listener.committed({ repository, digest, payload, parsed });
    return { digest, subject: parsed.subject?.digest };
  }

  async deleteManifest(repository: string, reference: Reference): Promise<void> {
    this.requireDelete();
    const removed = await this.store.transaction(async (trx) => {
      if (reference.kind === 'tag') {
        const previous = await this.store.tagTarget(trx, repository, reference.tag);
        const deleted = await this.store.deleteTag(trx, repository, reference.tag);
        if (deleted) {
          await this.event(trx, 'tag.deleted', repository, `${repository}:${reference.tag}`, {
            tag: reference.tag,
            before: previous ?? null,
            after: null,
          });
        }
        return deleted;
      }
      const deleted = await this.store.deleteManifest(trx, repository, reference.digest.digest);
      if (deleted) {
        for (const listener of this.listeners)
          await listener.deleted(trx, repository, reference.digest.digest);
        await this.event(trx, 'manifest.deleted', repository, `${repository}@${reference.digest.digest}`, {
          digest: reference.digest.digest,
        });
      }
      return deleted;
    });
    if (!removed) throw manifestUnknown(reference.kind === 'tag' ? reference.tag : reference.digest.digest);
  }

  // ---- listings -----------------------------------------------------------------------------

  pageSize(n: string | undefined): number {
    if (n === undefined || n === '') return this.options.maxPageSize;
    if (!/^\d{1,9}$/.test(n)) {
      throw new OciError('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer', { detail: { n } });
    }
    return Math.min(Number(n), this.options.maxPageSize);
  }

  async listTags(repository: string, limit: number, last: string | undefined): Promise<string[]> {
    if (!(await this.store.repositoryExists(this.store.db, repository))) throw nameUnknown(repository);
    if (limit === 0) return [];
    return this.store.listTags(this.store.db, repository, limit, last);
  }

  async listRepositories(limit: number, last: string | undefined): Promise<string[]> {
    if (limit === 0) return [];
    return this.store.listRepositories(this.store.db, limit, last);
  }

  async referrers(repository: string, subject: string, artifactType: string | undefined) {
    this.parseDigest(subject);
    const rows = await this.store.referrers(this.store.db, repository, subject);
    const manifests = rows
      .filter((r) => artifactType === undefined || r.artifact_type === artifactType)
      .map((r) => ({
        mediaType: r.media_type,
        digest: r.digest,
        size: r.size,
        ...(r.artifact_type ? { artifactType: r.artifact_type } : {}),
        ...(r.annotations ? { annotations: JSON.parse(r.annotations) as Record<string, string> } : {}),
      }));
    return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests };
  }

  private requireDelete(): void {
    if (!this.options.deleteEnabled) {
      throw new OciError('UNSUPPORTED', 'deletes are disabled on this registry (registry.deleteEnabled)');
    }
  }
}

function checkReferences(wanted: Descriptor[], found: Map<string, number>, kind: 'blob' | 'manifest'): void {
  for (const descriptor of wanted) {
    const size = found.get(descriptor.digest);
    if (size === undefined) {
      throw new OciError(
        'MANIFEST_BLOB_UNKNOWN',
        `manifest references a ${kind} that is not in this repository`,
        {
          detail: { digest: descriptor.digest },
        },
      );
    }
    if (size !== descriptor.size) {
      throw new OciError(
        'MANIFEST_INVALID',
        `descriptor size ${descriptor.size} does not match the stored ${kind}`,
        {
          detail: { digest: descriptor.digest, size },
        },
      );
    }
  }
}
