// Streams an image's layers once each, in order, and keeps only the files some cataloger wants,
// as they are in the final filesystem: whiteouts and opaque directories of a layer hide what the
// layers below it hold, a file replacing a directory hides the directory's contents, and wanted
// symlinks are resolved inside the image root. Everything a layer can make us do is bounded by
// LayerLimits, and every way a layer can be broken or hostile ends in an AnalysisError.
import { pipeline } from 'node:stream/promises';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import * as tar from 'tar-stream';
import { AnalysisError } from '../analysis-error.js';
import type { FileSet } from '../packages/cataloger.js';
import { DEFAULT_LAYER_LIMITS, type LayerLimits } from './layer-limits.js';

/** One layer to read: its descriptor and a way to stream its (compressed) bytes. */
export interface LayerSource {
  digest: string;
  mediaType: string;
  open(): Promise<Readable>;
}

/** Something that wants to read certain files of the final filesystem. */
export interface FileInterest {
  wants(path: string): boolean;
  readonly maxFileBytes: number;
}

export interface WalkStats {
  layers: number;
  compressedBytes: number;
  decompressedBytes: number;
  entries: number;
  wantedFiles: number;
}

export interface WalkResult {
  files: FileSet;
  stats: WalkStats;
}

/** One entry of a tar stream (tar-stream does not export the type by name). */
type TarEntry = tar.Extract extends AsyncIterable<infer E> ? E : never;

/** Path components resolving wanted symlinks may visit in one image (a hostile image's links). */
const MAX_RESOLVE_STEPS = 5_000_000;
/** Entry paths and link targets, in bytes, one image may add up to. */
const MAX_PATH_BYTES_TOTAL = 256 * 1024 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const OPAQUE_MARKER = '.wh..wh..opq';
const WHITEOUT_PREFIX = '.wh.';

interface Link {
  target: string;
  wanted: boolean;
}

/** What one layer adds and hides; applied to the layers below only when the layer ends. */
class LayerChanges {
  readonly files = new Map<string, Buffer>();
  readonly links = new Map<string, Link>();
  /** Paths this layer replaces, whatever they were below. */
  readonly replaced = new Set<string>();
  /** Directories whose lower contents this layer hides (whiteouts, opaque dirs, non-directories). */
  readonly hiddenUnder = new Set<string>();
}

export class LayerWalker {
  private readonly files = new Map<string, Buffer>();
  private readonly links = new Map<string, Link>();
  private readonly stats: WalkStats = {
    layers: 0,
    compressedBytes: 0,
    decompressedBytes: 0,
    entries: 0,
    wantedFiles: 0,
  };
  private wantedBytes = 0;
  /** Path components visited while resolving wanted symlinks, over the whole image. */
  private resolveSteps = 0;
  /** Bytes of entry paths and link targets seen (what the walker may have to remember). */
  private pathBytes = 0;
  private readonly limits: LayerLimits;

  constructor(
    private readonly interests: readonly FileInterest[],
    limits: Partial<LayerLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LAYER_LIMITS, ...limits };
  }

  async walk(layers: readonly LayerSource[]): Promise<WalkResult> {
    for (const layer of layers) await this.walkLayer(layer);
    return { files: this.fileSet(), stats: { ...this.stats } };
  }

  private async walkLayer(layer: LayerSource): Promise<void> {
    if (/encrypted/i.test(layer.mediaType)) {
      throw new AnalysisError('unsupported-layer', `layer ${layer.digest} is encrypted (${layer.mediaType})`);
    }
    this.stats.layers++;
    const changes = new LayerChanges();
    const { head, stream: source } = await sniff(await layer.open(), ZSTD_MAGIC.length);
    const extract = tar.extract();
    const piping = pipeline(
      source,
      this.counter('compressedBytes', Infinity),
      decompressor(head, layer.digest, this.limits.maxDecompressedBytes - this.stats.decompressedBytes),
      this.counter('decompressedBytes', this.limits.maxDecompressedBytes),
      extract,
    );
    // The loop below reports the first failure; this keeps the pipeline's own from going unhandled.
    piping.catch(() => undefined);
    try {
      for await (const entry of extract) {
        await this.onEntry(entry, changes, layer.digest);
      }
      await piping;
    } catch (error) {
      source.destroy();
      extract.destroy();
      throw classify(error, layer.digest);
    }
    this.apply(changes);
  }

  private counter(field: 'compressedBytes' | 'decompressedBytes', limit: number): Transform {
    const stats = this.stats;
    return new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        stats[field] += chunk.length;
        if (stats[field] > limit) {
          callback(
            new AnalysisError(
              'too-large',
              `the image's layers decompress to more than ${limit} bytes (limit for analysis)`,
            ),
          );
          return;
        }
        callback(null, chunk);
      },
    });
  }

  private async onEntry(entry: TarEntry, changes: LayerChanges, digest: string): Promise<void> {
    if (++this.stats.entries > this.limits.maxEntries) {
      entry.resume();
      throw new AnalysisError(
        'too-many-entries',
        `the image's layers hold more than ${this.limits.maxEntries} entries (limit for analysis)`,
      );
    }
    const header = entry.header;
    const path = this.entryPath(header.name, digest);
    // Paths are remembered per layer (whiteouts, replacements) and links with their targets.
    this.pathBytes += path.length + (header.linkname?.length ?? 0);
    if (this.pathBytes > MAX_PATH_BYTES_TOTAL) {
      entry.resume();
      throw new AnalysisError(
        'too-large',
        `the image's entry paths add up to more than ${MAX_PATH_BYTES_TOTAL} bytes (limit for analysis)`,
      );
    }
    if (path === '') {
      entry.resume();
      return;
    }
    const slash = path.lastIndexOf('/');
    const dir = slash < 0 ? '' : path.slice(0, slash);
    const base = path.slice(slash + 1);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      entry.resume();
      if (base === OPAQUE_MARKER) {
        changes.hiddenUnder.add(dir);
      } else {
        const hidden =
          dir === '' ? base.slice(WHITEOUT_PREFIX.length) : `${dir}/${base.slice(WHITEOUT_PREFIX.length)}`;
        changes.replaced.add(hidden);
        changes.hiddenUnder.add(hidden);
      }
      return;
    }
    changes.replaced.add(path);
    if (header.type === 'directory') {
      entry.resume();
      return;
    }
    changes.hiddenUnder.add(path);
    changes.files.delete(path);
    changes.links.delete(path);
    if (header.type === 'file' || header.type === 'contiguous-file') {
      const interest = this.interestIn(path);
      if (interest === undefined) {
        entry.resume();
        return;
      }
      const size = header.size ?? 0;
      try {
        this.keep(path, size, interest);
      } catch (error) {
        entry.resume();
        throw error;
      }
      changes.files.set(path, await readAll(entry, size));
      return;
    }
    entry.resume();
    if (header.type === 'symlink') {
      const target = header.linkname ?? '';
      this.checkLinkName(target, path);
      if (this.links.size + changes.links.size >= this.limits.maxSymlinks) {
        throw new AnalysisError(
          'too-many-entries',
          `the image holds more than ${this.limits.maxSymlinks} symbolic links (limit for analysis)`,
        );
      }
      changes.links.set(path, { target, wanted: this.interestIn(path) !== undefined });
    } else if (header.type === 'link') {
      const target = this.entryPath(header.linkname ?? '', digest);
      const interest = this.interestIn(path);
      if (interest === undefined) return;
      const content = changes.files.get(target) ?? this.files.get(target);
      if (content === undefined) return;
      // A link is another copy as far as the bounds go: its path's limit and the total both apply.
      this.keep(path, content.length, interest);
      changes.files.set(path, content);
    }
  }

  /** Counts a wanted file against its cataloger's limit and the total kept in memory. */
  private keep(path: string, size: number, interest: FileInterest): void {
    if (size > interest.maxFileBytes) {
      throw new AnalysisError(
        'database-too-large',
        `${path} is ${size} bytes; the most Palisade reads for this file is ${interest.maxFileBytes}`,
      );
    }
    this.wantedBytes += size;
    if (this.wantedBytes > this.limits.maxWantedBytes) {
      throw new AnalysisError(
        'too-large',
        `the image's package databases and metadata exceed ${this.limits.maxWantedBytes} bytes (limit for analysis)`,
      );
    }
  }

  private interestIn(path: string): FileInterest | undefined {
    let found: FileInterest | undefined;
    for (const interest of this.interests) {
      if (interest.wants(path) && (found === undefined || interest.maxFileBytes > found.maxFileBytes)) {
        found = interest;
      }
    }
    return found;
  }

  /** The entry's path relative to the root; '' for the root itself. */
  private entryPath(name: string, digest: string): string {
    if (Buffer.byteLength(name) > this.limits.maxPathBytes) {
      throw new AnalysisError(
        'path-too-long',
        `layer ${digest} has an entry path longer than ${this.limits.maxPathBytes} bytes`,
      );
    }
    if (name.includes('\0')) {
      throw new AnalysisError('unsafe-path', `layer ${digest} has an entry path containing a NUL byte`);
    }
    if (name.startsWith('/')) {
      throw new AnalysisError('unsafe-path', `layer ${digest} has an absolute entry path: ${quote(name)}`);
    }
    const parts: string[] = [];
    for (const part of name.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        throw new AnalysisError('unsafe-path', `layer ${digest} has an entry path with "..": ${quote(name)}`);
      }
      parts.push(part);
    }
    return parts.join('/');
  }

  private checkLinkName(target: string, path: string): void {
    if (Buffer.byteLength(target) > this.limits.maxPathBytes) {
      throw new AnalysisError(
        'path-too-long',
        `symbolic link ${quote(path)} has a target longer than ${this.limits.maxPathBytes} bytes`,
      );
    }
    if (target.includes('\0')) {
      throw new AnalysisError(
        'unsafe-path',
        `symbolic link ${quote(path)} has a target containing a NUL byte`,
      );
    }
  }

  /** Hides what this layer whites out or replaces in the layers below, then lays it on top. */
  private apply(changes: LayerChanges): void {
    const hidden = (path: string): boolean => {
      if (changes.replaced.has(path)) return true;
      for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
        if (changes.hiddenUnder.has(path.slice(0, i))) return true;
      }
      return changes.hiddenUnder.has('');
    };
    for (const [path, content] of this.files) {
      if (hidden(path)) {
        this.files.delete(path);
        this.wantedBytes -= content.length;
      }
    }
    for (const path of this.links.keys()) if (hidden(path)) this.links.delete(path);
    for (const [path, content] of changes.files) this.files.set(path, content);
    for (const [path, link] of changes.links) this.links.set(path, link);
  }

  private fileSet(): FileSet {
    const files = new Map(this.files);
    for (const [path, link] of this.links) {
      if (!link.wanted) continue;
      const resolved = this.resolve(path);
      const content = resolved === undefined ? undefined : this.files.get(resolved);
      if (content !== undefined) files.set(path, content);
    }
    this.stats.wantedFiles = files.size;
    const paths = [...files.keys()].sort();
    return { get: (path) => files.get(path), paths: () => [...paths] };
  }

  /** Follows symlinks component by component, never above the image root. */
  private resolve(path: string): string | undefined {
    const pending = path.split('/').reverse();
    const resolved: string[] = [];
    let prefix = '';
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.pop() as string;
      if (++this.resolveSteps > MAX_RESOLVE_STEPS) {
        throw new AnalysisError('symlink-loop', "resolving the image's symbolic links takes too many steps");
      }
      if (part === '' || part === '.') continue;
      if (part === '..') {
        resolved.pop();
        prefix = resolved.join('/');
        continue;
      }
      const candidate = prefix === '' ? part : `${prefix}/${part}`;
      if (candidate.length > this.limits.maxPathBytes) {
        throw new AnalysisError(
          'path-too-long',
          `resolving ${quote(path)} gives a path over ${this.limits.maxPathBytes} bytes`,
        );
      }
      const link = this.links.get(candidate);
      if (link === undefined) {
        resolved.push(part);
        prefix = candidate;
        continue;
      }
      if (++hops > this.limits.maxSymlinkHops) {
        throw new AnalysisError(
          'symlink-loop',
          `resolving ${quote(path)} follows more than ${this.limits.maxSymlinkHops} symbolic links (a loop?)`,
        );
      }
      if (link.target.startsWith('/')) {
        resolved.length = 0;
        prefix = '';
      }
      pending.push(...link.target.split('/').reverse());
    }
    return resolved.length === 0 ? undefined : resolved.join('/');
  }
}

/** Picks gzip, zstd or no decompression from the stream's first bytes, not its declared type. */
function decompressor(head: Buffer, digest: string, maxOutput: number): Transform {
  if (startsWith(head, GZIP_MAGIC)) return createGunzip({ chunkSize: 1024 * 1024 });
  if (startsWith(head, ZSTD_MAGIC)) return zstdStream(digest, maxOutput);
  return new PassThrough();
}

/** Reads the first bytes of a stream and gives back a stream that still starts with them. */
async function sniff(source: Readable, size: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < size && !source.readableEnded) {
    const chunk = source.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      length += chunk.length;
      continue;
    }
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        source.off('readable', done).off('end', done).off('error', fail);
        resolve();
      };
      const fail = (error: Error) => {
        source.off('readable', done).off('end', done).off('error', fail);
        reject(error);
      };
      source.once('readable', done).once('end', done).once('error', fail);
    });
  }
  const head = Buffer.concat(chunks);
  if (source.readableEnded) return { head, stream: Readable.from(head.length > 0 ? [head] : []) };
  if (head.length > 0) source.unshift(head);
  return { head, stream: source };
}

/** Largest zstd window accepted: zstd's own default decoder limit (--long=27). */
const MAX_ZSTD_WINDOW = 128 * 1024 * 1024;
/** Input fed to the zstd decoder per call: its output for one call is bounded by this. */
const ZSTD_SLICE = 512;

/**
 * zstd through fzstd, which decodes whatever it is given in one synchronous call: the input is fed
 * in small slices, the output counted as it is produced (a 4-byte block can expand to 128 KiB),
 * and the consumer's backpressure honoured between slices. The frame's window is checked before
 * the decoder allocates it.
 */
function zstdStream(digest: string, maxOutput: number): Transform {
  let decoder: ZstdDecompress | undefined;
  let produced = 0;
  let headerChecked = false;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      feed(chunk, false).then(
        () => callback(),
        (error: unknown) => callback(compressionError(error, digest)),
      );
    },
    flush(callback: TransformCallback) {
      feed(Buffer.alloc(0), true).then(
        () => callback(),
        (error: unknown) => callback(compressionError(error, digest)),
      );
    },
    read(this: Transform, size: number) {
      this.emit('drain-out');
      Transform.prototype._read.call(this, size);
    },
  });
  function emit(data: Uint8Array): void {
    produced += data.length;
    if (produced > maxOutput) {
      throw new AnalysisError(
        'too-large',
        `the image's layers decompress to more than ${maxOutput} bytes (limit for analysis)`,
      );
    }
    stream.push(Buffer.from(data.buffer, data.byteOffset, data.length));
  }
  async function feed(chunk: Buffer, final: boolean): Promise<void> {
    if (!headerChecked) {
      checkZstdWindow(chunk, digest);
      headerChecked = true;
    }
    decoder ??= new ZstdDecompress(emit);
    for (let offset = 0; offset < chunk.length; offset += ZSTD_SLICE) {
      decoder.push(chunk.subarray(offset, offset + ZSTD_SLICE));
      if (stream.readableLength > stream.readableHighWaterMark) {
        await new Promise<void>((resolve) => stream.once('drain-out', resolve));
      }
    }
    if (final) decoder.push(new Uint8Array(0), true);
  }
  return stream;
}

/** Refuses a first frame whose window (or single-segment content size) is over MAX_ZSTD_WINDOW. */
function checkZstdWindow(head: Buffer, digest: string): void {
  if (head.length < 6) return;
  const descriptor = head[4]!;
  const singleSegment = (descriptor & 0x20) !== 0;
  let window: number;
  if (!singleSegment) {
    const wd = head[5]!;
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  } else {
    const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
    const fcsBytes = [1, 2, 4, 8][descriptor >> 6]!;
    const at = 5 + dictBytes;
    if (head.length < at + fcsBytes) return;
    window = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) window = window * 256 + head[at + i]!;
    if (fcsBytes === 2) window += 256;
  }
  if (window > MAX_ZSTD_WINDOW) {
    throw new AnalysisError(
      'too-large',
      `layer ${digest} asks for a ${window}-byte zstd window; at most ${MAX_ZSTD_WINDOW} is accepted`,
    );
  }
}

function compressionError(error: unknown, digest: string): AnalysisError {
  if (error instanceof AnalysisError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new AnalysisError(
    'corrupt-compression',
    `layer ${digest} is not a valid compressed stream: ${detail}`,
  );
}

function classify(error: unknown, digest: string): unknown {
  if (error instanceof AnalysisError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) return compressionError(error, digest);
  // Reading the blob failed (storage, not the layer): the job retries; the image is not blamed.
  if ((error as { syscall?: unknown } | null)?.syscall !== undefined) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new AnalysisError('corrupt-archive', `layer ${digest} is not a valid tar archive: ${detail}`);
}

async function readAll(entry: TarEntry, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of entry) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  return length === size ? Buffer.concat(chunks, length) : Buffer.concat(chunks);
}

function startsWith(buffer: Buffer, magic: readonly number[]): boolean {
  return magic.every((byte, i) => buffer[i] === byte);
}

function quote(path: string): string {
  return JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
}
