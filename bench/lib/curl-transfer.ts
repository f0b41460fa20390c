// Moves big blobs with curl instead of Node's fetch. On this 2-core machine a Node client that
// streams 1 GiB costs as much CPU as the server it measures, so both registries would look alike;
// curl reading a file from the page cache leaves the server as the bottleneck. Same client for both.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BlobSource } from './blob-source.js';

export interface BlobFiles {
  /** The whole blob. */
  whole: string;
  /** The blob cut into chunk files, in order, with their byte ranges. */
  chunks: { path: string; start: number; end: number }[];
}

/** Writes the blob (and its chunks) to files, outside any timed section. */
export async function writeBlobFiles(blob: BlobSource, dir: string, chunkSize: number): Promise<BlobFiles> {
  await mkdir(dir, { recursive: true });
  const whole = join(dir, 'whole');
  await pipeline(blob.stream(), createWriteStream(whole));
  const chunks: BlobFiles['chunks'] = [];
  for (let start = 0, n = 0; start < blob.size; start += chunkSize, n++) {
    const end = Math.min(blob.size, start + chunkSize);
    const path = join(dir, `chunk-${n}`);
    await pipeline(blob.stream(start, end), createWriteStream(path));
    chunks.push({ path, start, end });
  }
  return { whole, chunks };
}

export interface CurlResult {
  status: number;
  headers: Map<string, string>;
  bytes: number;
}

export interface CurlOptions {
  /** File sent as the request body (-T). */
  upload?: string;
  /** Extra request headers, "Name: value". */
  headers?: string[];
  /** Full Authorization header value (e.g. "Bearer …"); no Authorization header when unset. */
  authorization?: string;
}

/** Runs curl once; resolves with the status, response headers and downloaded byte count. */
export function curl(method: string, url: string, options: CurlOptions = {}): Promise<CurlResult> {
  const args = ['-sS', '-X', method, '-o', '/dev/null', '-D', '-', '-w', '\n%{http_code} %{size_download}\n'];
  for (const header of options.headers ?? []) args.push('-H', header);
  const { authorization } = options;
  // -H @- reads the header from stdin: a token in argv would be readable by anyone through ps.
  if (authorization !== undefined) args.push('-H', '@-');
  if (options.upload) args.push('-T', options.upload);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child =
      authorization === undefined
        ? spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    if (authorization !== undefined && child.stdin) {
      // If curl dies before reading it, its exit status says why; an EPIPE here would only hide that.
      child.stdin.on('error', () => undefined);
      child.stdin.end(`Authorization: ${authorization}\n`);
    }
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`curl ${method} ${url} exited ${code}: ${err.trim()}`));
      const lines = out.trimEnd().split(/\r?\n/);
      const [status, bytes] = (lines.pop() ?? '').split(' ');
      const headers = new Map<string, string>();
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      resolve({ status: Number(status), headers, bytes: Number(bytes) });
    });
  });
}
