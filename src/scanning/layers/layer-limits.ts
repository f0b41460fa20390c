// Bounds on what analysing one image may consume. A pushed layer is untrusted input: these turn
// decompression bombs, million-entry tars and absurd paths into a recorded failure instead of a
// server that runs out of memory or time.

export interface LayerLimits {
  /** Total decompressed bytes over all layers of one image. */
  maxDecompressedBytes: number;
  /** Total tar entries over all layers of one image. */
  maxEntries: number;
  /** Longest entry or link path, in bytes. */
  maxPathBytes: number;
  /** Total bytes of wanted files (package databases, metadata) kept in memory at once. */
  maxWantedBytes: number;
  /** Symlinks remembered for resolving wanted paths. */
  maxSymlinks: number;
  /** Symlink hops followed while resolving one path. */
  maxSymlinkHops: number;
}

export const DEFAULT_LAYER_LIMITS: LayerLimits = {
  maxDecompressedBytes: 16 * 1024 ** 3,
  maxEntries: 2_000_000,
  maxPathBytes: 4096,
  maxWantedBytes: 512 * 1024 ** 2,
  maxSymlinks: 1_000_000,
  maxSymlinkHops: 40,
};
