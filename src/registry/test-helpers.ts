// Test helpers for the registry: push blobs and images through the HTTP edge, and take a
// snapshot of everything stored (rows and blob files) to prove bad input changed nothing.
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { digestOf } from '../lib/digest.js';
import type { TestServer } from '../server/test-server.js';
import { MediaTypes } from './manifest.js';

export async function pushBlob(app: FastifyInstance, repo: string, data: Buffer): Promise<string> {
  const digest = digestOf(data);
  const res = await app.inject({
    method: 'POST',
    url: `/v2/${repo}/blobs/uploads/?digest=${digest}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: data,
  });
  expect(res.statusCode, res.body).toBe(201);
  return digest;
}

export interface PushedImage {
  digest: string;
  manifest: Buffer;
  config: Buffer;
  layer: Buffer;
  configDigest: string;
  layerDigest: string;
}

export function imageManifest(
  config: { digest: string; size: number },
  layers: { digest: string; size: number }[],
  extra: Record<string, unknown> = {},
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
      ...extra,
    }),
  );
}

/** A Docker schema 2 manifest; layers may carry extra descriptor fields (e.g. urls). */
export function dockerManifest(
  config: { digest: string; size: number },
  layers: ({ digest: string; size: number } & Record<string, unknown>)[],
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', ...config },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', ...l })),
    }),
  );
}

export async function putManifest(
  app: FastifyInstance,
  repo: string,
  reference: string,
  body: Buffer,
  mediaType: string = MediaTypes.ociManifest,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'PUT',
    url: `/v2/${repo}/manifests/${reference}`,
    headers: { 'content-type': mediaType },
    payload: body,
  });
}

/** Pushes a small image (config + one random layer + manifest) under `tag`. */
export async function pushImage(app: FastifyInstance, repo: string, tag: string): Promise<PushedImage> {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }),
  );
  const layer = randomBytes(512);
  const configDigest = await pushBlob(app, repo, config);
  const layerDigest = await pushBlob(app, repo, layer);
  const manifest = imageManifest({ digest: configDigest, size: config.length }, [
    { digest: layerDigest, size: layer.length },
  ]);
  const res = await putManifest(app, repo, tag, manifest);
  expect(res.statusCode, res.body).toBe(201);
  return { digest: digestOf(manifest), manifest, config, layer, configDigest, layerDigest };
}

export function errorCode(res: LightMyRequestResponse): string | undefined {
  const body = res.json<{ errors?: { code: string }[] }>();
  return body.errors?.[0]?.code;
}

/** Everything the registry has stored: every row of every table, and every file under the data dir. */
export async function snapshot(test: TestServer): Promise<string> {
  const { db } = test.server.database;
  const tables = [
    'repositories',
    'blobs',
    'repository_blobs',
    'manifests',
    'manifest_blobs',
    'manifest_children',
    'tags',
    'uploads',
    'signing_keys',
    'users',
    'organizations',
    'role_bindings',
    'public_repositories',
    'revoked_tokens',
  ] as const;
  const rows: Record<string, unknown[]> = {};
  for (const table of tables) {
    const all = await db.selectFrom(table).selectAll().execute();
    rows[table] = all
      .map((r) => JSON.stringify(r, (_k, v: unknown) => (Buffer.isBuffer(v) ? digestOf(v) : v)))
      .sort();
  }
  return JSON.stringify({ rows, files: listFiles(join(test.dataDir, 'blobs')) });
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d)) {
      const path = join(d, entry);
      const s = statSync(path);
      if (s.isDirectory()) walk(path);
      else out.push(`${path.slice(dir.length)}:${s.size}`);
    }
  };
  walk(dir);
  return out.sort();
}
