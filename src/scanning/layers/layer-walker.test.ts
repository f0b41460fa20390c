// The layer walker against hand-built layers: overlay semantics (whiteouts, opaque directories,
// replacement), symlink resolution, compression detection, and every hostile-layer limit.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AnalysisError, type AnalysisFailure } from '../analysis-error.js';
import { LayerWalker, type FileInterest } from './layer-walker.js';
import type { LayerLimits } from './layer-limits.js';
import { gzipLayer, layerOf, tarOf, type LayerEntry } from './test-layers.js';

const wanted: FileInterest[] = [
  { wants: (p) => /(^|\/)package\.json$/.test(p), maxFileBytes: 1024 },
  { wants: (p) => p === 'etc/os-release' || p === 'usr/lib/os-release', maxFileBytes: 1024 },
  { wants: (p) => p === 'lib/apk/db/installed', maxFileBytes: 64 * 1024 },
];

async function walk(layers: LayerEntry[][], limits: Partial<LayerLimits> = {}) {
  const sources = await Promise.all(layers.map(async (l, i) => layerOf(await gzipLayer(l), `layer${i}`)));
  return new LayerWalker(wanted, limits).walk(sources);
}

async function contents(layers: LayerEntry[][]): Promise<Record<string, string>> {
  const { files } = await walk(layers);
  return Object.fromEntries(files.paths().map((p) => [p, files.get(p)?.toString() ?? '']));
}

async function failure(promise: Promise<unknown>): Promise<{ reason: AnalysisFailure; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AnalysisError);
  const { reason, message } = error as AnalysisError;
  return { reason, message };
}

describe('overlay semantics', () => {
  it('keeps only wanted files, later layers winning', async () => {
    expect(
      await contents([
        [
          { path: 'etc/os-release', content: 'ID=one' },
          { path: 'etc/passwd', content: 'root:x:0:0' },
          { path: 'app/package.json', content: 'v1' },
        ],
        [{ path: './app/package.json', content: 'v2' }],
      ]),
    ).toEqual({ 'app/package.json': 'v2', 'etc/os-release': 'ID=one' });
  });

  it('a whiteout hides a file and everything under a directory of the layers below', async () => {
    expect(
      await contents([
        [
          { path: 'a/package.json', content: 'a' },
          { path: 'b/node_modules/x/package.json', content: 'x' },
          { path: 'b/node_modules/y/package.json', content: 'y' },
        ],
        [
          { path: 'a/.wh.package.json', content: '' },
          { path: 'b/.wh.node_modules', content: '' },
        ],
      ]),
    ).toEqual({});
  });

  it('an opaque directory hides lower contents but not its own layer', async () => {
    expect(
      await contents([
        [
          { path: 'app/node_modules/x/package.json', content: 'x' },
          { path: 'app/package.json', content: 'root' },
        ],
        [
          { path: 'app/node_modules/y/package.json', content: 'y' },
          { path: 'app/node_modules/.wh..wh..opq', content: '' },
        ],
      ]),
    ).toEqual({ 'app/node_modules/y/package.json': 'y', 'app/package.json': 'root' });
  });

  it('a file, a symlink or a whiteout replacing a directory hides what was under it', async () => {
    expect(
      await contents([
        [
          { path: 'a/x/package.json', content: 'a' },
          { path: 'b/x/package.json', content: 'b' },
        ],
        [
          { path: 'a', content: 'now a file' },
          { path: 'b', symlink: '/elsewhere' },
        ],
      ]),
    ).toEqual({});
  });

  it('a whited-out file can come back in a later layer', async () => {
    expect(
      await contents([
        [{ path: 'x/package.json', content: '1' }],
        [{ path: 'x/.wh.package.json', content: '' }],
        [{ path: 'x/package.json', content: '3' }],
      ]),
    ).toEqual({ 'x/package.json': '3' });
  });

  it('hardlinks to wanted files carry their content', async () => {
    expect(
      await contents([
        [
          { path: 'a/package.json', content: 'shared' },
          { path: 'b/package.json', hardlink: 'a/package.json' },
        ],
      ]),
    ).toEqual({ 'a/package.json': 'shared', 'b/package.json': 'shared' });
  });
});

describe('symlinks', () => {
  it('resolves a wanted symlink relative to its directory, across layers', async () => {
    expect(
      await contents([
        [{ path: 'usr/lib/os-release', content: 'ID=debian' }],
        [{ path: 'etc/os-release', symlink: '../usr/lib/os-release' }],
      ]),
    ).toEqual({ 'etc/os-release': 'ID=debian', 'usr/lib/os-release': 'ID=debian' });
  });

  it('resolves absolute targets and symlinked directories inside the image root', async () => {
    expect(
      await contents([
        [
          { path: 'usr/lib/os-release', content: 'ID=wolfi' },
          { path: 'lib', symlink: 'usr/lib' },
          { path: 'etc/os-release', symlink: '/../../lib/os-release' },
        ],
      ]),
    ).toEqual({ 'etc/os-release': 'ID=wolfi', 'usr/lib/os-release': 'ID=wolfi' });
  });

  it('a symlink loop fails the analysis with symlink-loop', async () => {
    const result = await failure(
      walk([
        [
          { path: 'etc/os-release', symlink: 'a' },
          { path: 'etc/a', symlink: 'b' },
          { path: 'etc/b', symlink: 'os-release' },
        ],
      ]),
    );
    expect(result.reason).toBe('symlink-loop');
    expect(result.message).toContain('etc/os-release');
  });

  it('a dangling wanted symlink is simply absent', async () => {
    expect(await contents([[{ path: 'etc/os-release', symlink: '/nowhere' }]])).toEqual({});
  });
});

describe('compression', () => {
  it('reads gzip, zstd and uncompressed layers by their bytes, whatever the media type says', async () => {
    const plain = await tarOf([{ path: 'x/package.json', content: 'plain' }]);
    const zstd = readFileSync(new URL('../../../test/fixtures/layers/os-release.tar.zst', import.meta.url));
    const { files, stats } = await new LayerWalker(wanted).walk([
      layerOf(plain, 'plain'),
      layerOf(zstd, 'zstd', 7),
      layerOf(gzipSync(await tarOf([{ path: 'y/package.json', content: 'gz' }])), 'gzip'),
    ]);
    expect(files.paths()).toEqual([
      'etc/os-release',
      'usr/lib/os-release',
      'x/package.json',
      'y/package.json',
    ]);
    expect(files.get('etc/os-release')?.toString()).toContain('ID=alpine');
    expect(stats.layers).toBe(3);
    expect(stats.decompressedBytes).toBeGreaterThan(stats.compressedBytes - zstd.length);
  });

  it('an empty layer is an empty tar, not an error', async () => {
    const { files } = await new LayerWalker(wanted).walk([layerOf(Buffer.alloc(0), 'empty')]);
    expect(files.paths()).toEqual([]);
  });
});

describe('hostile layers fail with a recorded reason', () => {
  const big = Buffer.alloc(200_000, 'a');

  it('corrupt gzip', async () => {
    const layer = await gzipLayer([{ path: 'x/data', content: randomBytes(100_000) }]);
    layer.fill(0x55, 40, 4000);
    expect((await failure(new LayerWalker(wanted).walk([layerOf(layer)]))).reason).toBe(
      'corrupt-compression',
    );
  });

  it('truncated gzip', async () => {
    const layer = await gzipLayer([{ path: 'x/data', content: big }]);
    const result = await failure(
      new LayerWalker(wanted).walk([layerOf(layer.subarray(0, layer.length - 50))]),
    );
    expect(result.reason).toBe('corrupt-compression');
  });

  it('corrupt zstd', async () => {
    const zstd = Buffer.from(
      readFileSync(new URL('../../../test/fixtures/layers/os-release.tar.zst', import.meta.url)),
    );
    zstd.fill(0xff, 8, 60);
    expect((await failure(new LayerWalker(wanted).walk([layerOf(zstd)]))).reason).toBe('corrupt-compression');
  });

  it('bytes that are not a tar archive', async () => {
    const result = await failure(new LayerWalker(wanted).walk([layerOf(Buffer.alloc(4096, 'garbage!'))]));
    expect(result.reason).toBe('corrupt-archive');
  });

  it('a decompression bomb stops at the decompressed-size limit', async () => {
    const bomb = gzipSync(await tarOf([{ path: 'zeros', content: Buffer.alloc(50 * 1024 * 1024) }]));
    expect(bomb.length).toBeLessThan(100 * 1024);
    const result = await failure(walkBytes(bomb, { maxDecompressedBytes: 10 * 1024 * 1024 }));
    expect(result.reason).toBe('too-large');
  });

  it('a zstd bomb stops at the limit inside the decoder, without holding its output', async () => {
    const bomb = readFileSync(new URL('../../../test/fixtures/layers/zeros-300m.zst', import.meta.url));
    const before = process.memoryUsage().rss;
    const result = await failure(walkBytes(bomb, { maxDecompressedBytes: 10 * 1024 * 1024 }));
    expect(result.reason).toBe('too-large');
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('a zstd frame asking for a window over 128 MiB is refused before anything is allocated', async () => {
    const long = readFileSync(new URL('../../../test/fixtures/layers/long-window.zst', import.meta.url));
    const result = await failure(walkBytes(long, {}));
    expect(result).toMatchObject({ reason: 'too-large' });
    expect(result.message).toContain('1073741824-byte zstd window');
  });

  it('too many entries', async () => {
    const entries = Array.from({ length: 50 }, (_, i) => ({ path: `f${i}`, content: '' }));
    expect((await failure(walk([entries], { maxEntries: 20 }))).reason).toBe('too-many-entries');
  });

  it('too many symlinks', async () => {
    const entries = Array.from({ length: 50 }, (_, i) => ({ path: `l${i}`, symlink: 'x' }));
    expect((await failure(walk([entries], { maxSymlinks: 20 }))).reason).toBe('too-many-entries');
  });

  it('paths too long', async () => {
    const long = `${'d/'.repeat(300)}package.json`;
    expect((await failure(walk([[{ path: long, content: '' }]], { maxPathBytes: 512 }))).reason).toBe(
      'path-too-long',
    );
  });

  it.each(['../etc/package.json', 'a/../../package.json', '/etc/package.json'])(
    'unsafe entry path %s',
    async (path) => {
      const result = await failure(walk([[{ path, content: 'x' }]]));
      expect(result.reason).toBe('unsafe-path');
    },
  );

  it('a wanted file over its cataloger limit', async () => {
    const result = await failure(walk([[{ path: 'x/package.json', content: Buffer.alloc(4096) }]]));
    expect(result).toEqual({
      reason: 'database-too-large',
      message: 'x/package.json is 4096 bytes; the most Palisade reads for this file is 1024',
    });
  });

  it('hardlinks count against the file limit and the total like the files they copy', async () => {
    const links = Array.from({ length: 10 }, (_, i) => ({
      path: `l${i}/package.json`,
      hardlink: 'a/package.json',
    }));
    const result = await failure(
      walk([[{ path: 'a/package.json', content: big.subarray(0, 1000) }, ...links]], {
        maxWantedBytes: 5000,
      }),
    );
    expect(result.reason).toBe('too-large');
  });

  it('wanted files over the total in-memory limit', async () => {
    const entries = Array.from({ length: 10 }, (_, i) => ({
      path: `p${i}/package.json`,
      content: big.subarray(0, 1000),
    }));
    expect((await failure(walk([entries], { maxWantedBytes: 5000 }))).reason).toBe('too-large');
  });

  it('encrypted layers are refused', async () => {
    const layer = {
      ...layerOf(Buffer.alloc(0)),
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted',
    };
    expect((await failure(new LayerWalker(wanted).walk([layer]))).reason).toBe('unsupported-layer');
  });
});

function walkBytes(bytes: Buffer, limits: Partial<LayerLimits>) {
  return new LayerWalker(wanted, limits).walk([layerOf(bytes)]);
}
