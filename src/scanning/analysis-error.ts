// Why an image could not be analysed. Hostile or broken layers fail their analysis with one of
// these stable reasons, which the scan job records; they never crash the server or leak paths of
// the host (only paths inside the image, which the pusher chose).

export type AnalysisFailure =
  /** gzip or zstd stream is corrupt or truncated. */
  | 'corrupt-compression'
  /** The tar stream is malformed. */
  | 'corrupt-archive'
  /** Decompressed size over the limit (decompression bomb). */
  | 'too-large'
  /** More tar entries than the limit. */
  | 'too-many-entries'
  /** An entry path longer than the limit. */
  | 'path-too-long'
  /** `..` components, absolute paths or NUL bytes in an entry or link path. */
  | 'unsafe-path'
  /** A symlink chain that loops or is too deep to resolve. */
  | 'symlink-loop'
  /** A package database or metadata file larger than its cataloger accepts. */
  | 'database-too-large'
  /** A package database or metadata file that does not parse. */
  | 'malformed-database'
  /** Metadata that is not valid UTF-8. */
  | 'invalid-utf8'
  /** The layer's media type is not one Palisade can read. */
  | 'unsupported-layer';

export class AnalysisError extends Error {
  constructor(
    readonly reason: AnalysisFailure,
    message: string,
  ) {
    super(message);
    this.name = 'AnalysisError';
  }
}
