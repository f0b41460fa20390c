// Where OSV records come from: one JSON file (a record or an array of records), a directory of
// them (searched recursively, as osv.dev's GCS exports and git mirrors lay them out) or a zip
// archive such as the per-ecosystem `all.zip` osv.dev publishes. Each yields raw JSON values one
// at a time with a name for error messages; every size and count is bounded.
import { closeSync, createReadStream, fstatSync, openSync, readFileSync } from 'node:fs';
import { opendir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import yauzl from 'yauzl';

export interface RawRecord {
  /** The file (and entry) it came from, for error messages. */
  origin: string;
  value?: unknown;
  /** Why it could not be read as JSON. */
  error?: string;
}

export interface SourceLimits {
  /** Largest single JSON file or zip entry. */
  maxFileBytes: number;
  /** Most files or entries read from one source. */
  maxFiles: number;
}

/** Record files read synchronously between two turns of the event loop. */
const SYNC_BATCH = 64;

export const DEFAULT_SOURCE_LIMITS: SourceLimits = { maxFileBytes: 32 * 1024 * 1024, maxFiles: 2_000_000 };

export interface RecordSource {
  /** Files or entries to read, when known up front (for progress). */
  total: number;
  records(): AsyncIterable<RawRecord>;
}

export class SourceError extends Error {
  override readonly name = 'SourceError';
}

/** `label` names the source in error messages instead of `path` (a download's temporary file). */
export async function openRecordSource(
  path: string,
  limits = DEFAULT_SOURCE_LIMITS,
  label = path,
): Promise<RecordSource> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new SourceError(`${path} does not exist`);
  if (info.isDirectory()) return directorySource(path, limits);
  if (!info.isFile()) throw new SourceError(`${path} is neither a file nor a directory`);
  const head = await readHead(path);
  if (head.readUInt32LE(0) === 0x04034b50) return zipSource(path, limits, label);
  if (info.size > limits.maxFileBytes) {
    throw new SourceError(`${path} is ${info.size} bytes; a JSON file may be at most ${limits.maxFileBytes}`);
  }
  return {
    total: 1,
    async *records() {
      yield* parsed(label, await readFile(path));
    },
  };
}

async function readHead(path: string): Promise<Buffer> {
  const stream = createReadStream(path, { start: 0, end: 3 });
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const head = Buffer.concat(chunks);
  return head.length >= 4 ? head : Buffer.concat([head, Buffer.alloc(4 - head.length)]);
}

/** One file's records: a record object, or an array of them. */
function* parsed(origin: string, bytes: Buffer): Iterable<RawRecord> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    yield { origin, error: 'not valid JSON' };
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield { origin: `${origin}[${i}]`, value: value[i] as unknown };
  } else {
    yield { origin, value };
  }
}

async function directorySource(root: string, limits: SourceLimits): Promise<RecordSource> {
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of await opendir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && entry.name.endsWith('.json')) {
        files.push(path);
        if (files.length > limits.maxFiles) {
          throw new SourceError(`${root} holds more than ${limits.maxFiles} JSON files`);
        }
      }
    }
  };
  await walk(root);
  files.sort();
  const load = (path: string): RawRecord[] => {
    const origin = relative(root, path);
    let fd: number | undefined;
    try {
      fd = openSync(path, 'r');
      const size = fstatSync(fd).size;
      if (size > limits.maxFileBytes) {
        return [{ origin, error: `${size} bytes; a record file may be at most ${limits.maxFileBytes}` }];
      }
      return [...parsed(origin, readFileSync(fd))];
    } catch (error) {
      return [{ origin, error: `unreadable: ${error instanceof Error ? error.message : String(error)}` }];
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  };
  return {
    total: files.length,
    async *records() {
      // Record files are small: synchronous reads cost a few microseconds each, where a
      // thread-pool round trip per call would leave the import waiting most of the time. Reading
      // in batches, with a turn of the event loop between them, keeps a server responsive.
      for (let i = 0; i < files.length; i += SYNC_BATCH) {
        const batch = files.slice(i, i + SYNC_BATCH).flatMap(load);
        yield* batch;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    },
  };
}

async function zipSource(path: string, limits: SourceLimits, label: string): Promise<RecordSource> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true, validateEntrySizes: true, autoClose: false }, (error, file) =>
      error
        ? reject(new SourceError(`${label} is not a readable zip archive: ${error.message}`))
        : resolve(file),
    ),
  );
  if (zip.entryCount > limits.maxFiles) {
    zip.close();
    throw new SourceError(`${label} holds ${zip.entryCount} entries; at most ${limits.maxFiles} are read`);
  }
  return {
    total: zip.entryCount,
    async *records() {
      try {
        for (;;) {
          const entry = await nextEntry(zip);
          if (!entry) return;
          if (entry.fileName.endsWith('/') || !entry.fileName.endsWith('.json')) continue;
          const origin = `${label}:${entry.fileName}`;
          if (entry.uncompressedSize > limits.maxFileBytes) {
            yield {
              origin,
              error: `${entry.uncompressedSize} bytes; an entry may be at most ${limits.maxFileBytes}`,
            };
            continue;
          }
          let bytes: Buffer;
          try {
            bytes = await readEntry(zip, entry);
          } catch (error) {
            yield { origin, error: `unreadable: ${error instanceof Error ? error.message : String(error)}` };
            continue;
          }
          yield* parsed(origin, bytes);
        }
      } finally {
        zip.close();
      }
    },
  };
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const onEntry = (entry: yauzl.Entry) => {
      cleanup();
      resolve(entry);
    };
    const onEnd = () => {
      cleanup();
      resolve(undefined);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new SourceError(`the zip archive is damaged: ${error.message}`));
    };
    const cleanup = () => {
      zip.off('entry', onEntry).off('end', onEnd).off('error', onError);
    };
    zip.on('entry', onEntry).on('end', onEnd).on('error', onError);
    zip.readEntry();
  });
}

function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (error, stream) => {
      if (error) return reject(error);
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
      stream.on('error', reject);
    });
  });
}
