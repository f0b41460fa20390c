// Builds tar layers in memory for tests: regular files, directories, symlinks, hardlinks and
// whiteouts, optionally gzip-compressed, so layer analysis can be tested without real images.
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import type { LayerSource } from './layer-walker.js';

export type LayerEntry =
  | { path: string; content: string | Buffer }
  | { path: string; dir: true }
  | { path: string; symlink: string }
  | { path: string; hardlink: string };

/** An uncompressed tar of the entries, in order. */
export async function tarOf(entries: readonly LayerEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (chunk) => chunks.push(chunk as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const entry of entries) {
    if ('content' in entry) {
      const content = typeof entry.content === 'string' ? Buffer.from(entry.content) : entry.content;
      pack.entry({ name: entry.path, type: 'file', size: content.length, mode: 0o644 }, content);
    } else if ('dir' in entry) {
      pack.entry({ name: entry.path, type: 'directory', mode: 0o755 });
    } else if ('symlink' in entry) {
      pack.entry({ name: entry.path, type: 'symlink', linkname: entry.symlink });
    } else {
      pack.entry({ name: entry.path, type: 'link', linkname: entry.hardlink });
    }
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function gzipLayer(entries: readonly LayerEntry[]): Promise<Buffer> {
  return gzipSync(await tarOf(entries));
}

/** A LayerSource over bytes in memory, streamed in small chunks like a real blob read. */
export function layerOf(bytes: Buffer, name = 'test', chunkSize = 64 * 1024): LayerSource {
  return {
    digest: `sha256:${name}`,
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    open: () => {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
      return Promise.resolve(Readable.from(chunks));
    },
  };
}
