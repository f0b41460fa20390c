// The BlobStore interface: content-addressed blobs plus resumable upload sessions. Streams in,
// streams out, no local paths: a filesystem and an S3 implementation must both fit behind it.
// Every implementation runs the shared suite in blob-store.suite.ts.
import type { Readable, Writable } from 'node:stream';
import type { DigestAlgorithm } from '../lib/digest.js';

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface StoredItem {
  key: string;
  modifiedAt: Date;
}

export interface AppendOptions {
  /** Refuse (and roll back) the append if more than this many bytes arrive. */
  maxBytes?: number;
  /** Exact number of bytes the client declared; fewer or more is an error and is rolled back. */
  expectedBytes?: number;
}

/** The upload's content did not hash to the digest the client claimed. Nothing was stored. */
export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`content digest ${actual} does not match ${expected}`);
  }
}

/** An append was given a start offset other than the upload's current size. */
export class OffsetMismatchError extends Error {
  constructor(readonly currentSize: number) {
    super(`upload is at offset ${currentSize}`);
  }
}

/** An append received more bytes than allowed or a different count than declared; rolled back. */
export class AppendSizeError extends Error {
  constructor(
    readonly kind: 'too-large' | 'length-mismatch',
    readonly received: number,
  ) {
    super(kind === 'too-large' ? 'body larger than allowed' : 'body length differs from the declared length');
  }
}

export class UploadNotFoundError extends Error {
  constructor(readonly id: string) {
    super('upload not found');
  }
}

export interface BlobStore {
  /** Size of a stored blob, or undefined when it is not stored. */
  stat(digest: string): Promise<BlobInfo | undefined>;
  /** Streams a blob, or an inclusive byte range of it. Throws when missing. */
  read(digest: string, range?: ByteRange): Promise<Readable>;
  /**
   * Writes a blob (or an inclusive range) into `destination` and ends it. Unlike piping read(),
   * an implementation may reuse its buffers, so serving a large blob allocates almost nothing.
   * `ready` runs once the blob is known to be readable, before the first byte is written; a
   * missing blob rejects before that. A failure after `ready` destroys the destination.
   * The destination must be done with a chunk when it calls back from write() — true of sockets,
   * HTTP responses and files, not of a PassThrough, which hands the same buffer on.
   */
  sendTo(
    digest: string,
    destination: Writable,
    options: { range?: ByteRange; ready: () => void },
  ): Promise<void>;
  /** Removes a blob; true when something was removed. */
  delete(digest: string): Promise<boolean>;
  /** Every stored blob digest with its last modification (for garbage collection). */
  list(): AsyncIterable<StoredItem>;

  /** Creates an empty upload session. */
  createUpload(id: string): Promise<void>;
  /** Current byte count of an upload, or undefined when the session does not exist. */
  uploadSize(id: string): Promise<number | undefined>;
  /** Appends bytes at `offset` (must equal the current size); returns the new size. */
  append(id: string, offset: number, source: Readable, options?: AppendOptions): Promise<number>;
  /**
   * Makes the upload a durable, visible blob if its content hashes to `digest`; otherwise throws
   * DigestMismatchError and leaves the upload untouched. The session is gone afterwards.
   */
  commit(id: string, digest: string): Promise<BlobInfo>;
  /** Discards an upload session; true when one existed. */
  abort(id: string): Promise<boolean>;
  /** Every upload session with its last modification (for expiry). */
  listUploads(): AsyncIterable<StoredItem>;
  /** Releases resources (threads, connections). */
  close(): Promise<void>;
  /** Proves the store is reachable and writable (for /readyz). */
  ping(): Promise<void>;
  /** Hash algorithm computed while streaming, so commit needs no second read. */
  readonly streamingAlgorithm: DigestAlgorithm;
}
