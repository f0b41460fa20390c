// Garbage collection: what is collected, what is kept, and the proof that collection is safe
// while pushes continue — every image whose push succeeded can be pulled, byte for byte.
import { randomBytes } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { digestOf } from '../lib/digest.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { collectGarbage } from './gc.js';
import { MediaTypes } from './manifest.js';
import { imageManifest, pushBlob, pushImage, putManifest, type PushedImage } from './test-helpers.js';

const HOUR = 3_600_000;

describe.each(testDialects())('garbage collection (%s)', (dialect) => {
  let t: TestServer;
  beforeEach(async () => {
    t = await startTestServer(dialect);
  });
  afterEach(async () => t.dispose());
  const app = () => t.server.app;
  const gc = (options: { graceMs?: number; now?: number; deleteUntagged?: boolean } = {}) =>
    collectGarbage(t.server.registry, {
      gracePeriodMs: options.graceMs ?? HOUR,
      uploadExpiryMs: 24 * HOUR,
      deleteUntagged: options.deleteUntagged ?? true,
      now: options.now,
    });
  const status = async (url: string) => (await app().inject({ method: 'HEAD', url })).statusCode;

  it('collects untagged manifests and unreferenced blobs older than the grace period, and keeps the rest', async () => {
    const kept = await pushImage(app(), 'gc/app', 'keep');
    const dropped = await pushImage(app(), 'gc/app', 'drop');
    await app().inject({ method: 'DELETE', url: '/v2/gc/app/manifests/drop' });
    const loose = await pushBlob(app(), 'gc/app', randomBytes(64));

    const young = await gc({ now: Date.now() });
    expect(young).toMatchObject({ manifestsDeleted: 0, blobsDeleted: 0, errors: [] });

    const result = await gc({ now: Date.now() + 2 * HOUR });
    expect(result.errors).toEqual([]);
    expect(result.manifestsDeleted).toBe(1);
    expect(result.blobsDeleted).toBe(3); // dropped config + layer, and the loose blob
    expect(result.bytesFreed).toBe(dropped.config.length + dropped.layer.length + 64);
    expect(await status(`/v2/gc/app/manifests/${dropped.digest}`)).toBe(404);
    expect(await status(`/v2/gc/app/blobs/${dropped.layerDigest}`)).toBe(404);
    expect(await status(`/v2/gc/app/blobs/${loose}`)).toBe(404);
    expect(await t.server.registry.blobs.stat(dropped.layerDigest)).toBeUndefined();
    expect(await status(`/v2/gc/app/manifests/keep`)).toBe(200);
    expect(await status(`/v2/gc/app/blobs/${kept.layerDigest}`)).toBe(200);
    const get = await app().inject({ method: 'GET', url: `/v2/gc/app/blobs/${kept.layerDigest}` });
    expect(get.rawPayload.equals(kept.layer)).toBe(true);
  });

  it('keeps untagged manifests when deleteUntagged is off', async () => {
    const image = await pushImage(app(), 'gc/app', 'x');
    await app().inject({ method: 'DELETE', url: '/v2/gc/app/manifests/x' });
    const result = await gc({ now: Date.now() + 2 * HOUR, deleteUntagged: false });
    expect(result.manifestsDeleted).toBe(0);
    expect(await status(`/v2/gc/app/manifests/${image.digest}`)).toBe(200);
  });

  it('keeps the children of a tagged index and the referrers of a live subject', async () => {
    const child = await pushImage(app(), 'gc/multi', 'tmp');
    await app().inject({ method: 'DELETE', url: '/v2/gc/multi/manifests/tmp' });
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [{ mediaType: MediaTypes.ociManifest, digest: child.digest, size: child.manifest.length }],
      }),
    );
    expect((await putManifest(app(), 'gc/multi', 'latest', index, MediaTypes.ociIndex)).statusCode).toBe(201);
    const emptyDigest = await pushBlob(app(), 'gc/multi', Buffer.from('{}'));
    const empty = { mediaType: MediaTypes.ociEmpty, digest: emptyDigest, size: 2 };
    const referrer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        artifactType: 'application/spdx+json',
        config: empty,
        layers: [empty],
        subject: { mediaType: MediaTypes.ociIndex, digest: digestOf(index), size: index.length },
      }),
    );
    expect((await putManifest(app(), 'gc/multi', digestOf(referrer), referrer)).statusCode).toBe(201);

    let result = await gc({ now: Date.now() + 2 * HOUR });
    expect(result.manifestsDeleted).toBe(0);
    expect(result.blobsDeleted).toBe(0);
    expect(await status(`/v2/gc/multi/manifests/${child.digest}`)).toBe(200);
    expect(await status(`/v2/gc/multi/manifests/${digestOf(referrer)}`)).toBe(200);

    // Untag the index: index, child and referrer all go, in cascade.
    await app().inject({ method: 'DELETE', url: '/v2/gc/multi/manifests/latest' });
    result = await gc({ now: Date.now() + 2 * HOUR });
    expect(result.manifestsDeleted).toBe(3);
    expect(result.blobsDeleted).toBe(3);
  });

  it('expires abandoned upload sessions and removes orphan files left by a crash', async () => {
    const start = await app().inject({ method: 'POST', url: '/v2/gc/app/blobs/uploads/' });
    const id = (start.headers.location as string).split('/').pop()!;
    await app().inject({
      method: 'PATCH',
      url: start.headers.location as string,
      payload: randomBytes(10),
      headers: { 'content-type': 'application/octet-stream' },
    });
    // A blob file that reached storage but whose metadata never committed (crash between the two).
    const orphan = randomBytes(20);
    const hex = digestOf(orphan).slice('sha256:'.length);
    const dir = join(t.dataDir, 'blobs', 'blobs', 'sha256', hex.slice(0, 2));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, hex), orphan);
    expect(await t.server.registry.blobs.stat(digestOf(orphan))).toBeDefined();

    const early = await gc({ now: Date.now() + HOUR / 2 });
    expect(early.uploadsExpired).toBe(0);
    expect(early.orphanFilesRemoved).toBe(0);
    const result = await gc({ now: Date.now() + 25 * HOUR });
    expect(result.uploadsExpired).toBe(1);
    expect(result.orphanFilesRemoved).toBe(1);
    expect(await t.server.registry.blobs.uploadSize(id)).toBeUndefined();
    expect(await t.server.registry.blobs.stat(digestOf(orphan))).toBeUndefined();
    const status = await app().inject({ method: 'GET', url: start.headers.location as string });
    expect(status.statusCode).toBe(404);
  });

  it('refreshes an old blob when a client checks it exists, so a push that reuses it still succeeds', async () => {
    const layer = randomBytes(100);
    const config = Buffer.from('{"os":"linux"}');
    const ld = await pushBlob(app(), 'gc/reuse', layer);
    const cd = await pushBlob(app(), 'gc/reuse', config);
    const grace = 1000;
    await new Promise((r) => setTimeout(r, grace));
    // The client's HEAD (blob exists, skip upload) must keep GC away from the blob.
    t.server.registry.options.gcGracePeriodMs = grace;
    expect(await status(`/v2/gc/reuse/blobs/${ld}`)).toBe(200);
    expect(await status(`/v2/gc/reuse/blobs/${cd}`)).toBe(200);
    const result = await gc({ graceMs: grace });
    expect(result.blobsDeleted).toBe(0);
    const manifest = imageManifest({ digest: cd, size: config.length }, [{ digest: ld, size: layer.length }]);
    expect((await putManifest(app(), 'gc/reuse', 'v1', manifest)).statusCode).toBe(201);
  });

  it('is safe while pushes continue: every successful push pulls back intact', async () => {
    // Garbage for the collector to chew on while pushes run.
    for (let i = 0; i < 10; i++) {
      await pushImage(app(), 'gc/garbage', `g${i}`);
      await app().inject({ method: 'DELETE', url: `/v2/gc/garbage/manifests/g${i}` });
    }
    const shared = randomBytes(256); // every image reuses this layer, so pushes and GC contend on it
    let stop = false;
    let gcRuns = 0;
    const gcErrors: string[] = [];
    const collector = (async () => {
      while (!stop) {
        // Grace 0: anything unreferenced at this instant is fair game — the harshest setting.
        const result = await gc({ graceMs: 0 });
        gcErrors.push(...result.errors);
        gcRuns++;
        await new Promise((r) => setImmediate(r));
      }
    })();

    const pushed: { repo: string; tag: string; image: PushedImage }[] = [];
    const failed: string[] = [];
    const pushOne = async (n: number) => {
      const repo = `gc/concurrent${n % 3}`;
      const tag = `t${n}`;
      try {
        const config = Buffer.from(JSON.stringify({ os: 'linux', n }));
        const layer = randomBytes(300);
        const configDigest = await pushBlob(app(), repo, config);
        const sharedDigest = await pushBlob(app(), repo, shared);
        const layerDigest = await pushBlob(app(), repo, layer);
        const manifest = imageManifest({ digest: configDigest, size: config.length }, [
          { digest: sharedDigest, size: shared.length },
          { digest: layerDigest, size: layer.length },
        ]);
        const res = await putManifest(app(), repo, tag, manifest);
        if (res.statusCode !== 201) {
          failed.push(`${tag}: ${res.body}`);
          return;
        }
        pushed.push({
          repo,
          tag,
          image: { digest: digestOf(manifest), manifest, config, layer, configDigest, layerDigest },
        });
      } catch (error) {
        failed.push(`${tag}: ${String(error)}`);
      }
    };
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 6 }, (_, i) => pushOne(batch * 6 + i)));
    }
    stop = true;
    await collector;
    expect(gcErrors).toEqual([]);
    expect(gcRuns).toBeGreaterThan(1);
    // With no grace period a push may lose its fresh blobs before its manifest lands; that push
    // then fails cleanly with MANIFEST_BLOB_UNKNOWN. It must never succeed with missing content.
    for (const failure of failed) expect(failure).toContain('MANIFEST_BLOB_UNKNOWN');
    expect(pushed.length).toBeGreaterThan(0);
    console.info(`concurrent GC: ${gcRuns} runs, ${pushed.length} pushes ok, ${failed.length} refused`);

    // One more collection after the pushes: tagged images must survive it too.
    expect((await gc({ graceMs: 0 })).errors).toEqual([]);
    for (const { repo, image } of pushed) {
      const manifest = await app().inject({ method: 'GET', url: `/v2/${repo}/manifests/${image.digest}` });
      expect(manifest.statusCode).toBe(200);
      expect(manifest.rawPayload.equals(image.manifest)).toBe(true);
      const parsed = manifest.json<{ config: { digest: string }; layers: { digest: string }[] }>();
      for (const digest of [parsed.config.digest, ...parsed.layers.map((l) => l.digest)]) {
        const blob = await app().inject({ method: 'GET', url: `/v2/${repo}/blobs/${digest}` });
        expect(blob.statusCode, `${repo} ${digest}`).toBe(200);
        expect(digestOf(blob.rawPayload)).toBe(digest);
      }
    }
  });

  it('with a grace period, concurrent GC never fails a push', async () => {
    let stop = false;
    const collector = (async () => {
      while (!stop) {
        await gc({ graceMs: 60_000 });
        await new Promise((r) => setImmediate(r));
      }
    })();
    const images = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pushImage(app(), 'gc/graced', `v${i}`)),
    );
    stop = true;
    await collector;
    for (const image of images) {
      expect(await status(`/v2/gc/graced/manifests/${image.digest}`)).toBe(200);
      expect(await status(`/v2/gc/graced/blobs/${image.layerDigest}`)).toBe(200);
    }
  });
});
