// Black-box conformance checks for the OCI Distribution Specification v1.1 (endpoints end-1 … end-13 and
// the error-code rules). The checks are plain async functions in `conformanceChecks`, so the same list runs
// under vitest (`defineConformanceSuite`) and against any live registry URL through test/conformance/run.ts.
// It talks HTTP only (Node's global fetch; node:http/https for the one request whose path fetch would
// normalise) and knows nothing about the server in src/.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { beforeAll, describe, it } from 'vitest';

export interface ConformanceTarget {
  baseUrl: string;
  namespace: string;
  crossMountNamespace: string;
  headers?: Record<string, string>;
}

export interface ConformanceCheck {
  /** Spec section id from the endpoint table (e.g. "end-3"), or a short label for rules outside it. */
  id: string;
  name: string;
  fn: (ctx: ConformanceContext) => Promise<void>;
}

export interface ConformanceResult {
  id: string;
  name: string;
  ok: boolean;
  error: string | null;
  /** Observations worth reporting even on success ("answered 405: tag deletion unsupported"). */
  notes: string[];
}

interface TestBlob {
  bytes: Buffer;
  digest: string;
  pushed: boolean;
}

interface TestManifest {
  mediaType: string;
  bytes: Buffer;
  digest: string;
  blobs: TestBlob[];
  pushed: boolean;
}

/** State shared by the checks of one run; checks run in order and may rely on what earlier ones pushed. */
export interface ConformanceContext {
  target: ConformanceTarget;
  /** Notes recorded by the check currently running (reset by runCheck). */
  notes: string[];
  /** Random per run, so re-runs never collide. */
  nonce: string;
  /** `conf-<nonce>-a`, `-b`, `-c`: they sort next to each other, which the paging checks rely on. */
  tags: string[];
  tagged: boolean;
  config: TestBlob;
  layer: TestBlob;
  chunked: TestBlob;
  empty: TestBlob;
  image: TestManifest;
  referrer: TestManifest;
  /** Upload session left open by the chunked PATCH check for the closing PUT check. */
  chunkedUploadUrl: string | null;
}

const OCTET = 'application/octet-stream';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const SBOM_TYPE = 'application/vnd.example.sbom';
const MANIFEST_ACCEPT = [
  OCI_MANIFEST,
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const randomDigest = (): string => `sha256:${randomBytes(32).toString('hex')}`;

function makeBlob(bytes: Buffer): TestBlob {
  return { bytes, digest: sha256(bytes), pushed: false };
}

function makeManifest(body: Record<string, unknown>, blobs: TestBlob[]): TestManifest {
  const bytes = Buffer.from(JSON.stringify(body));
  return { mediaType: OCI_MANIFEST, bytes, digest: sha256(bytes), blobs, pushed: false };
}

const descriptor = (mediaType: string, blob: { digest: string; bytes: Buffer }): Record<string, unknown> => ({
  mediaType,
  digest: blob.digest,
  size: blob.bytes.length,
});

export function createContext(target: ConformanceTarget): ConformanceContext {
  const nonce = randomBytes(8).toString('hex');
  const layer = makeBlob(randomBytes(2048));
  const config = makeBlob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
        config: { Labels: { 'org.example.conformance-nonce': nonce } },
      }),
    ),
  );
  const empty = makeBlob(Buffer.from('{}'));
  const image = makeManifest(
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor('application/vnd.oci.image.config.v1+json', config),
      layers: [descriptor('application/vnd.oci.image.layer.v1.tar', layer)],
    },
    [config, layer],
  );
  const referrer = makeManifest(
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SBOM_TYPE,
      config: descriptor(OCI_EMPTY, empty),
      layers: [descriptor(OCI_EMPTY, empty)],
      subject: descriptor(OCI_MANIFEST, image),
      annotations: { 'org.example.conformance-nonce': nonce },
    },
    [empty],
  );
  return {
    target,
    notes: [],
    nonce,
    tags: ['a', 'b', 'c'].map((s) => `conf-${nonce}-${s}`),
    config,
    layer,
    chunked: makeBlob(randomBytes(3000)),
    empty,
    image,
    referrer,
    tagged: false,
    chunkedUploadUrl: null,
  };
}

// ---------------------------------------------------------------------------------------------------------
// HTTP helpers: every reply is read fully, so no connection is left dangling.

interface Reply {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: Buffer;
}

interface SendOptions {
  headers?: Record<string, string>;
  body?: Buffer;
}

/** API path ("/v2/...") under the base URL, keeping any path prefix the base URL has. */
function apiUrl(ctx: ConformanceContext, path: string): string {
  return ctx.target.baseUrl.replace(/\/+$/, '') + path;
}

/** Location headers may be relative or absolute. */
function resolveLocation(ctx: ConformanceContext, location: string): string {
  return new URL(location, ctx.target.baseUrl).toString();
}

/** Appends query parameters to a URL that may already carry a query string (upload session state). */
function withQuery(url: string, params: Record<string, string>): string {
  const query = Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return url + (url.includes('?') ? '&' : '?') + query;
}

async function send(
  ctx: ConformanceContext,
  method: string,
  pathOrUrl: string,
  opts: SendOptions = {},
): Promise<Reply> {
  const url = /^https?:\/\//i.test(pathOrUrl) ? pathOrUrl : apiUrl(ctx, pathOrUrl);
  const headers: Record<string, string> = { ...ctx.target.headers, ...opts.headers };
  if (opts.body !== undefined) headers['Content-Length'] = String(opts.body.length);
  try {
    const res = await fetch(url, {
      method,
      headers,
      body: opts.body,
      redirect: method === 'GET' || method === 'HEAD' ? 'follow' : 'manual',
      signal: AbortSignal.timeout(30_000),
    });
    const body = Buffer.from(await res.arrayBuffer());
    return { method, url, status: res.status, headers: res.headers, body };
  } catch (err) {
    // fetch reports "fetch failed" and hides the reason (ECONNREFUSED, …) in `cause`.
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    throw new Error(`${method} ${url}: request failed: ${String(err)}${cause}`, { cause: err });
  }
}

/** GET with the path sent byte-for-byte (fetch would resolve "%2e%2e" segments before sending). */
function sendRaw(ctx: ConformanceContext, rawPath: string): Promise<Reply> {
  const base = new URL(ctx.target.baseUrl);
  const path = base.pathname.replace(/\/+$/, '') + rawPath;
  const lib = base.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      {
        host: base.hostname.replace(/^\[|\]$/g, ''),
        port: base.port || undefined,
        path,
        method: 'GET',
        headers: ctx.target.headers,
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
          }
          resolve({
            method: 'GET',
            url: base.origin + path,
            status: res.statusCode ?? 0,
            headers,
            body: Buffer.concat(chunks),
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------------------
// Assertions: each throws an Error naming the request, what was expected and what came back.

function what(r: Reply): string {
  return `${r.method} ${r.url}`;
}

function bodySnippet(r: Reply): string {
  const text = r.body.toString('utf8').trim();
  return text ? ` (body: ${text.length > 300 ? `${text.slice(0, 300)}…` : text})` : '';
}

function fail(r: Reply, message: string): never {
  throw new Error(`${what(r)}: ${message}`);
}

function expectStatus(r: Reply, ...allowed: number[]): void {
  if (!allowed.includes(r.status)) {
    fail(r, `expected status ${allowed.join(' or ')}, got ${r.status}${bodySnippet(r)}`);
  }
}

/** Asserts a header is present (and equal to `expected` when given); returns its value. */
function expectHeader(r: Reply, name: string, expected?: string): string {
  const value = r.headers.get(name);
  if (value === null) fail(r, `expected header ${name}${expected ? `: ${expected}` : ''}, but it is missing`);
  if (expected !== undefined && value !== expected) {
    fail(r, `expected header ${name}: ${expected}, got ${name}: ${value}`);
  }
  return value;
}

function expectContentType(r: Reply, expected: string): void {
  const value = expectHeader(r, 'content-type');
  const bare = value.split(';')[0]!.trim().toLowerCase();
  if (bare !== expected) fail(r, `expected Content-Type ${expected}, got ${value}`);
}

function expectBytes(r: Reply, expected: Buffer): void {
  if (!r.body.equals(expected)) {
    fail(r, `body differs from what was pushed (expected ${expected.length} bytes, got ${r.body.length})`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(r: Reply): unknown {
  try {
    return JSON.parse(r.body.toString('utf8')) as unknown;
  } catch {
    return fail(r, `expected a JSON body${bodySnippet(r) || ', got an empty body'}`);
  }
}

/** Validates the spec's error body {"errors":[{"code","message"?,"detail"?}]} and returns the codes. */
function errorCodes(r: Reply): string[] {
  const json = parseJson(r);
  const errors = isRecord(json) ? json.errors : undefined;
  if (!Array.isArray(errors) || errors.length === 0) {
    fail(r, `expected error body {"errors":[{"code":…,"message":…}]}${bodySnippet(r)}`);
  }
  return errors.map((e: unknown) => {
    if (!isRecord(e) || typeof e.code !== 'string')
      fail(r, `error entry without a string "code"${bodySnippet(r)}`);
    if (e.message !== undefined && typeof e.message !== 'string') fail(r, `error "message" is not a string`);
    return e.code;
  });
}

/**
 * Asserts an error reply: status, and (unless HEAD) a spec-shaped error body carrying one of `codes`.
 * Returns the code the registry used.
 */
function expectError(r: Reply, statuses: number[], codes: string[]): string | null {
  expectStatus(r, ...statuses);
  if (r.method === 'HEAD') return null;
  const got = errorCodes(r);
  if (codes.length === 0) return got[0]!;
  const hit = got.find((c) => codes.includes(c));
  if (hit === undefined) fail(r, `expected error code ${codes.join(' or ')}, got ${got.join(', ')}`);
  return hit;
}

function need<T>(value: T | null | undefined, description: string): T {
  if (value === null || value === undefined) throw new Error(`prerequisite missing: ${description}`);
  return value;
}

function note(ctx: ConformanceContext, text: string): void {
  ctx.notes.push(text);
}

function stringList(r: Reply, key: string): string[] {
  const json = parseJson(r);
  const list = isRecord(json) ? json[key] : undefined;
  if (!Array.isArray(list) || !list.every((t): t is string => typeof t === 'string')) {
    fail(r, `expected a JSON body with a string array "${key}"${bodySnippet(r)}`);
  }
  return list;
}

function nextLink(r: Reply): string | null {
  const link = r.headers.get('link');
  const m = link === null ? null : /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link);
  return m ? m[1]! : null;
}

// ---------------------------------------------------------------------------------------------------------
// Push helpers shared by checks (and used to push prerequisites when the check that normally does failed).

const blobPath = (ctx: ConformanceContext, digest: string, ns = ctx.target.namespace) =>
  `/v2/${ns}/blobs/${digest}`;
const manifestPath = (ctx: ConformanceContext, ref: string) => `/v2/${ctx.target.namespace}/manifests/${ref}`;

/** POST /v2/<ns>/blobs/uploads/ → 202; returns the absolute upload URL. */
async function startUpload(ctx: ConformanceContext): Promise<string> {
  const r = await send(ctx, 'POST', `/v2/${ctx.target.namespace}/blobs/uploads/`);
  expectStatus(r, 202);
  return resolveLocation(ctx, expectHeader(r, 'location'));
}

async function cancelUpload(ctx: ConformanceContext, url: string): Promise<void> {
  await send(ctx, 'DELETE', url).catch(() => undefined);
}

async function putBlob(ctx: ConformanceContext, uploadUrl: string, blob: TestBlob): Promise<void> {
  const r = await send(ctx, 'PUT', withQuery(uploadUrl, { digest: blob.digest }), {
    body: blob.bytes,
    headers: { 'Content-Type': OCTET },
  });
  expectStatus(r, 201);
  expectHeader(r, 'location');
  expectHeader(r, 'docker-content-digest', blob.digest);
  blob.pushed = true;
}

async function ensureBlob(ctx: ConformanceContext, blob: TestBlob): Promise<void> {
  if (blob.pushed) return;
  try {
    await putBlob(ctx, await startUpload(ctx), blob);
  } catch (err) {
    throw new Error(
      `setup: pushing a prerequisite blob failed: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

function putManifest(ctx: ConformanceContext, ref: string, m: TestManifest): Promise<Reply> {
  return send(ctx, 'PUT', manifestPath(ctx, ref), {
    body: m.bytes,
    headers: { 'Content-Type': m.mediaType },
  });
}

async function ensureManifest(ctx: ConformanceContext, m: TestManifest): Promise<void> {
  if (m.pushed) return;
  for (const blob of m.blobs) await ensureBlob(ctx, blob);
  const r = await putManifest(ctx, m.digest, m);
  if (r.status !== 201)
    throw new Error(`setup: pushing a prerequisite manifest failed: ${r.status}${bodySnippet(r)}`);
  m.pushed = true;
}

async function ensureTagged(ctx: ConformanceContext): Promise<void> {
  if (ctx.tagged) return;
  await ensureManifest(ctx, ctx.image);
  for (const tag of ctx.tags) {
    const r = await putManifest(ctx, tag, ctx.image);
    if (r.status !== 201) throw new Error(`setup: tagging the image failed: ${r.status}${bodySnippet(r)}`);
  }
  ctx.tagged = true;
}

function getManifest(ctx: ConformanceContext, method: 'GET' | 'HEAD', ref: string): Promise<Reply> {
  return send(ctx, method, manifestPath(ctx, ref), { headers: { Accept: MANIFEST_ACCEPT } });
}

function expectManifestReply(r: Reply, m: TestManifest): void {
  expectStatus(r, 200);
  expectContentType(r, m.mediaType);
  expectHeader(r, 'docker-content-digest', m.digest);
  if (r.method === 'GET') expectBytes(r, m.bytes);
  const length = r.headers.get('content-length');
  if (length !== null && Number(length) !== m.bytes.length) {
    fail(r, `expected Content-Length ${m.bytes.length}, got ${length}`);
  }
}

/** Fetches the referrers index and returns its manifests after validating the envelope. */
async function getReferrers(ctx: ConformanceContext, subject: string, query = '') {
  const r = await send(ctx, 'GET', `/v2/${ctx.target.namespace}/referrers/${subject}${query}`);
  expectStatus(r, 200);
  expectContentType(r, OCI_INDEX);
  const json = parseJson(r);
  if (!isRecord(json) || json.schemaVersion !== 2 || !Array.isArray(json.manifests)) {
    fail(r, `expected an image index {schemaVersion: 2, manifests: [...]}${bodySnippet(r)}`);
  }
  const manifests = json.manifests.filter(isRecord);
  return { reply: r, manifests };
}

function expectReferrerListed(r: Reply, manifests: Record<string, unknown>[], m: TestManifest): void {
  const entry = manifests.find((d) => d.digest === m.digest);
  if (!entry) fail(r, `referrer ${m.digest} is not listed${bodySnippet(r)}`);
  if (entry.artifactType !== SBOM_TYPE) {
    fail(r, `expected artifactType ${SBOM_TYPE} on the referrer entry, got ${String(entry.artifactType)}`);
  }
  if (entry.mediaType !== m.mediaType || entry.size !== m.bytes.length) {
    fail(r, `referrer descriptor has wrong mediaType/size: ${JSON.stringify(entry)}`);
  }
}

async function pushChunk(ctx: ConformanceContext, url: string, data: Buffer, start: number): Promise<Reply> {
  return send(ctx, 'PATCH', url, {
    body: data,
    headers: { 'Content-Type': OCTET, 'Content-Range': `${start}-${start + data.length - 1}` },
  });
}

// ---------------------------------------------------------------------------------------------------------
// The checks, in the order they run.

const check = (id: string, name: string, fn: ConformanceCheck['fn']): ConformanceCheck => ({ id, name, fn });

export const conformanceChecks: ConformanceCheck[] = [
  check('end-1', 'GET /v2/ returns 200', async (ctx) => {
    expectStatus(await send(ctx, 'GET', '/v2/'), 200);
  }),

  // --- Blob push --------------------------------------------------------------------------------------
  check('end-4a', 'POST upload then PUT ?digest= with the whole body → 201', async (ctx) => {
    await putBlob(ctx, await startUpload(ctx), ctx.config);
  }),

  check('end-4b', 'monolithic POST /blobs/uploads/?digest= with body → 201', async (ctx) => {
    const blob = ctx.layer;
    const r = await send(ctx, 'POST', `/v2/${ctx.target.namespace}/blobs/uploads/?digest=${blob.digest}`, {
      body: blob.bytes,
      headers: { 'Content-Type': OCTET },
    });
    if (r.status === 202) {
      note(ctx, 'monolithic POST answered 202 (unsupported); completed the session with PUT');
      await putBlob(ctx, resolveLocation(ctx, expectHeader(r, 'location')), blob);
      return;
    }
    expectStatus(r, 201);
    expectHeader(r, 'location');
    expectHeader(r, 'docker-content-digest', blob.digest);
    blob.pushed = true;
  }),

  check('end-5', 'chunked upload: PATCH two chunks with Content-Range → 202 with Range', async (ctx) => {
    const data = ctx.chunked.bytes;
    const half = Math.floor(data.length / 2);
    let url = await startUpload(ctx);
    for (const [start, end] of [
      [0, half],
      [half, data.length],
    ] as const) {
      const r = await pushChunk(ctx, url, data.subarray(start, end), start);
      expectStatus(r, 202);
      expectHeader(r, 'range', `0-${end - 1}`);
      url = resolveLocation(ctx, expectHeader(r, 'location'));
    }
    ctx.chunkedUploadUrl = url;
  }),

  check('end-6', 'chunked upload: closing PUT ?digest= without body → 201', async (ctx) => {
    const url = need(ctx.chunkedUploadUrl, 'open upload session from the chunked PATCH check (end-5)');
    const r = await send(ctx, 'PUT', withQuery(url, { digest: ctx.chunked.digest }), {
      body: Buffer.alloc(0),
    });
    expectStatus(r, 201);
    expectHeader(r, 'location');
    expectHeader(r, 'docker-content-digest', ctx.chunked.digest);
    ctx.chunked.pushed = true;
  }),

  check('end-5', 'out-of-order PATCH → 416, and the upload keeps its range', async (ctx) => {
    const chunk = randomBytes(100);
    let url = await startUpload(ctx);
    try {
      const first = await pushChunk(ctx, url, chunk, 0);
      expectStatus(first, 202);
      url = resolveLocation(ctx, expectHeader(first, 'location'));
      const bad = await pushChunk(ctx, url, chunk, chunk.length + 50);
      if (bad.status !== 416) {
        const range = bad.headers.get('range');
        fail(
          bad,
          `Content-Range starts at ${chunk.length + 50} but the upload holds ${chunk.length} bytes: expected 416, ` +
            `got ${bad.status}${range === null ? '' : ` with Range: ${range} (the chunk was accepted)`}`,
        );
      }
      if (bad.body.length > 0) errorCodes(bad);
      const status = await send(ctx, 'GET', url);
      expectStatus(status, 204);
      expectHeader(status, 'range', `0-${chunk.length - 1}`);
    } finally {
      await cancelUpload(ctx, url);
    }
  }),

  check('end-13', 'GET upload status → 204 with Range and Location', async (ctx) => {
    const chunk = randomBytes(64);
    let url = await startUpload(ctx);
    try {
      const patched = await pushChunk(ctx, url, chunk, 0);
      expectStatus(patched, 202);
      url = resolveLocation(ctx, expectHeader(patched, 'location'));
      const r = await send(ctx, 'GET', url);
      expectStatus(r, 204);
      expectHeader(r, 'range', `0-${chunk.length - 1}`);
      expectHeader(r, 'location');
    } finally {
      await cancelUpload(ctx, url);
    }
  }),

  check('end-6', 'PUT with a digest that does not match the body → 400 DIGEST_INVALID', async (ctx) => {
    const url = await startUpload(ctx);
    try {
      const r = await send(ctx, 'PUT', withQuery(url, { digest: randomDigest() }), {
        body: randomBytes(32),
        headers: { 'Content-Type': OCTET },
      });
      expectError(r, [400], ['DIGEST_INVALID']);
    } finally {
      await cancelUpload(ctx, url);
    }
  }),

  check(
    'blob-upload-cancel',
    'DELETE an upload session → 204, then GET it → 404 BLOB_UPLOAD_UNKNOWN',
    async (ctx) => {
      const url = await startUpload(ctx);
      const r = await send(ctx, 'DELETE', url);
      expectStatus(r, 204);
      expectError(await send(ctx, 'GET', url), [404], ['BLOB_UPLOAD_UNKNOWN']);
    },
  ),

  // --- Blob pull ---------------------------------------------------------------------------------------
  check('end-2', 'HEAD blob → 200 with Content-Length and Docker-Content-Digest', async (ctx) => {
    await ensureBlob(ctx, ctx.layer);
    const r = await send(ctx, 'HEAD', blobPath(ctx, ctx.layer.digest));
    expectStatus(r, 200);
    expectHeader(r, 'content-length', String(ctx.layer.bytes.length));
    expectHeader(r, 'docker-content-digest', ctx.layer.digest);
  }),

  check('end-2', 'GET blob → 200 with the exact bytes', async (ctx) => {
    await ensureBlob(ctx, ctx.layer);
    const r = await send(ctx, 'GET', blobPath(ctx, ctx.layer.digest));
    expectStatus(r, 200);
    expectBytes(r, ctx.layer.bytes);
  }),

  check('end-2', 'GET blob with Range: bytes=0-9 → 206 with Content-Range', async (ctx) => {
    const blob = ctx.layer;
    await ensureBlob(ctx, blob);
    const r = await send(ctx, 'GET', blobPath(ctx, blob.digest), { headers: { Range: 'bytes=0-9' } });
    expectStatus(r, 206, 200);
    if (r.status === 200) {
      note(ctx, 'Range requests unsupported: answered 200 with the whole blob');
      expectBytes(r, blob.bytes);
      return;
    }
    expectHeader(r, 'content-range', `bytes 0-9/${blob.bytes.length}`);
    expectBytes(r, blob.bytes.subarray(0, 10));
  }),

  check('end-2', 'HEAD/GET unknown blob → 404 (GET body: BLOB_UNKNOWN)', async (ctx) => {
    const digest = randomDigest();
    expectError(await send(ctx, 'HEAD', blobPath(ctx, digest)), [404], []);
    expectError(await send(ctx, 'GET', blobPath(ctx, digest)), [404], ['BLOB_UNKNOWN']);
  }),

  // --- Manifest push -----------------------------------------------------------------------------------
  check('end-7', 'PUT image manifest by tag → 201 with Location and Docker-Content-Digest', async (ctx) => {
    for (const blob of ctx.image.blobs) await ensureBlob(ctx, blob);
    for (const tag of ctx.tags) {
      const r = await putManifest(ctx, tag, ctx.image);
      expectStatus(r, 201);
      expectHeader(r, 'location');
      expectHeader(r, 'docker-content-digest', ctx.image.digest);
      ctx.image.pushed = true;
    }
    ctx.tagged = true;
  }),

  check('end-7', 'PUT image manifest by digest → 201', async (ctx) => {
    for (const blob of ctx.image.blobs) await ensureBlob(ctx, blob);
    const r = await putManifest(ctx, ctx.image.digest, ctx.image);
    expectStatus(r, 201);
    expectHeader(r, 'location');
    expectHeader(r, 'docker-content-digest', ctx.image.digest);
    ctx.image.pushed = true;
  }),

  check('end-7', 'PUT manifest referencing a blob never pushed → 400 MANIFEST_BLOB_UNKNOWN', async (ctx) => {
    await ensureBlob(ctx, ctx.config);
    const missing = makeBlob(randomBytes(64));
    const m = makeManifest(
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: descriptor('application/vnd.oci.image.config.v1+json', ctx.config),
        layers: [descriptor('application/vnd.oci.image.layer.v1.tar', missing)],
      },
      [],
    );
    const code = expectError(
      await putManifest(ctx, m.digest, m),
      [400],
      ['MANIFEST_BLOB_UNKNOWN', 'MANIFEST_INVALID'],
    );
    if (code === 'MANIFEST_INVALID') note(ctx, 'answered MANIFEST_INVALID instead of MANIFEST_BLOB_UNKNOWN');
  }),

  check('end-7', 'PUT a manifest that is not JSON → 400 MANIFEST_INVALID', async (ctx) => {
    const r = await send(ctx, 'PUT', manifestPath(ctx, `bad-${ctx.nonce}`), {
      body: Buffer.from('this is not json {'),
      headers: { 'Content-Type': OCI_MANIFEST },
    });
    expectError(r, [400], ['MANIFEST_INVALID']);
  }),

  // --- Manifest pull -----------------------------------------------------------------------------------
  check(
    'end-3',
    'GET and HEAD manifest by tag → 200 with media type, digest and exact bytes',
    async (ctx) => {
      await ensureTagged(ctx);
      expectManifestReply(await getManifest(ctx, 'GET', ctx.tags[0]!), ctx.image);
      expectManifestReply(await getManifest(ctx, 'HEAD', ctx.tags[0]!), ctx.image);
    },
  ),

  check(
    'end-3',
    'GET and HEAD manifest by digest → 200 with media type, digest and exact bytes',
    async (ctx) => {
      await ensureManifest(ctx, ctx.image);
      expectManifestReply(await getManifest(ctx, 'GET', ctx.image.digest), ctx.image);
      expectManifestReply(await getManifest(ctx, 'HEAD', ctx.image.digest), ctx.image);
    },
  ),

  check('end-3', 'GET/HEAD unknown tag → 404 (GET body: MANIFEST_UNKNOWN)', async (ctx) => {
    const tag = `missing-${ctx.nonce}`;
    expectError(await getManifest(ctx, 'HEAD', tag), [404], []);
    expectError(await getManifest(ctx, 'GET', tag), [404], ['MANIFEST_UNKNOWN']);
  }),

  // --- Tags --------------------------------------------------------------------------------------------
  check('end-8a', 'GET tags/list → 200 {name, tags} with the pushed tags', async (ctx) => {
    await ensureTagged(ctx);
    const r = await send(ctx, 'GET', `/v2/${ctx.target.namespace}/tags/list`);
    expectStatus(r, 200);
    const json = parseJson(r);
    if (!isRecord(json) || json.name !== ctx.target.namespace) {
      fail(r, `expected "name": "${ctx.target.namespace}"${bodySnippet(r)}`);
    }
    const tags = stringList(r, 'tags');
    const missing = ctx.tags.filter((t) => !tags.includes(t));
    if (missing.length > 0) fail(r, `tags missing from the list: ${missing.join(', ')}`);
  }),

  check(
    'end-8b',
    'GET tags/list?n=1 → one tag and a Link rel="next" that leads to the next tag',
    async (ctx) => {
      await ensureTagged(ctx);
      const r = await send(ctx, 'GET', `/v2/${ctx.target.namespace}/tags/list?n=1`);
      expectStatus(r, 200);
      const page = stringList(r, 'tags');
      if (page.length !== 1) fail(r, `expected exactly 1 tag with n=1, got ${page.length}`);
      const link = nextLink(r);
      if (link === null)
        fail(r, `expected a Link header with rel="next", got ${r.headers.get('link') ?? 'none'}`);
      const next = await send(ctx, 'GET', resolveLocation(ctx, link));
      expectStatus(next, 200);
      const nextPage = stringList(next, 'tags');
      if (nextPage.length !== 1 || nextPage[0]! <= page[0]!) {
        fail(next, `expected the single tag after "${page[0]}", got ${JSON.stringify(nextPage)}`);
      }
    },
  ),

  check('end-8b', 'GET tags/list?n=2&last=<tag> → the tags lexically after <tag>', async (ctx) => {
    await ensureTagged(ctx);
    const [first, ...rest] = [...ctx.tags].sort();
    const r = await send(ctx, 'GET', `/v2/${ctx.target.namespace}/tags/list?n=2&last=${first}`);
    expectStatus(r, 200);
    const tags = stringList(r, 'tags');
    if (JSON.stringify(tags) !== JSON.stringify(rest)) {
      fail(r, `expected tags ${JSON.stringify(rest)}, got ${JSON.stringify(tags)}`);
    }
  }),

  // --- Cross-repository mount --------------------------------------------------------------------------
  check('end-11', 'mount a blob from another repository → 201, then HEAD it there → 200', async (ctx) => {
    const blob = ctx.layer;
    await ensureBlob(ctx, blob);
    const { namespace, crossMountNamespace } = ctx.target;
    const r = await send(
      ctx,
      'POST',
      `/v2/${crossMountNamespace}/blobs/uploads/?mount=${blob.digest}&from=${namespace}`,
    );
    expectStatus(r, 201);
    expectHeader(r, 'location');
    expectHeader(r, 'docker-content-digest', blob.digest);
    expectStatus(await send(ctx, 'HEAD', blobPath(ctx, blob.digest, crossMountNamespace)), 200);
  }),

  check('end-11', 'mount an unknown blob → 202 (falls back to an upload session)', async (ctx) => {
    const { namespace, crossMountNamespace } = ctx.target;
    const r = await send(
      ctx,
      'POST',
      `/v2/${crossMountNamespace}/blobs/uploads/?mount=${randomDigest()}&from=${namespace}`,
    );
    expectStatus(r, 202);
    await cancelUpload(ctx, resolveLocation(ctx, expectHeader(r, 'location')));
  }),

  // --- Referrers ---------------------------------------------------------------------------------------
  check('end-7', 'PUT manifest with a subject → 201 with OCI-Subject', async (ctx) => {
    await ensureManifest(ctx, ctx.image);
    await ensureBlob(ctx, ctx.empty);
    if (ctx.empty.digest !== EMPTY_DIGEST)
      throw new Error(`internal: empty blob digest is ${ctx.empty.digest}`);
    const r = await putManifest(ctx, ctx.referrer.digest, ctx.referrer);
    expectStatus(r, 201);
    ctx.referrer.pushed = true;
    expectHeader(r, 'docker-content-digest', ctx.referrer.digest);
    expectHeader(r, 'oci-subject', ctx.image.digest);
  }),

  check(
    'end-12a',
    'GET referrers → 200 image index listing the referrer with its artifactType',
    async (ctx) => {
      await ensureManifest(ctx, ctx.referrer);
      const { reply, manifests } = await getReferrers(ctx, ctx.image.digest);
      expectReferrerListed(reply, manifests, ctx.referrer);
    },
  ),

  check('end-12b', 'GET referrers?artifactType= → filtered, with OCI-Filters-Applied', async (ctx) => {
    await ensureManifest(ctx, ctx.referrer);
    const query = `?artifactType=${encodeURIComponent(SBOM_TYPE)}`;
    const { reply, manifests } = await getReferrers(ctx, ctx.image.digest, query);
    expectHeader(reply, 'oci-filters-applied', 'artifactType');
    expectReferrerListed(reply, manifests, ctx.referrer);
    const other = manifests.find((d) => d.artifactType !== SBOM_TYPE);
    if (other) fail(reply, `filter not applied: entry with artifactType ${String(other.artifactType)}`);
  }),

  check('end-12b', 'GET referrers?artifactType=<no match> → empty manifests', async (ctx) => {
    await ensureManifest(ctx, ctx.referrer);
    const query = `?artifactType=${encodeURIComponent('application/vnd.example.nothing')}`;
    const { reply, manifests } = await getReferrers(ctx, ctx.image.digest, query);
    if (manifests.length !== 0) fail(reply, `expected no manifests, got ${manifests.length}`);
  }),

  check('end-12a', 'GET referrers of an unknown digest → 200 with empty manifests', async (ctx) => {
    const { reply, manifests } = await getReferrers(ctx, randomDigest());
    if (manifests.length !== 0) fail(reply, `expected no manifests, got ${manifests.length}`);
  }),

  // --- Catalog and names -------------------------------------------------------------------------------
  check('catalog', 'GET /v2/_catalog lists the namespace; ?n=1 pages with Link (extension)', async (ctx) => {
    await ensureBlob(ctx, ctx.config);
    const r = await send(ctx, 'GET', '/v2/_catalog');
    expectStatus(r, 200);
    const repos = stringList(r, 'repositories');
    if (!repos.includes(ctx.target.namespace)) fail(r, `"${ctx.target.namespace}" missing from repositories`);
    if (repos.length < 2) {
      note(ctx, 'only one repository in the catalog: ?n=1 paging not checked');
      return;
    }
    const page = await send(ctx, 'GET', '/v2/_catalog?n=1');
    expectStatus(page, 200);
    const first = stringList(page, 'repositories');
    if (first.length !== 1) fail(page, `expected exactly 1 repository with n=1, got ${first.length}`);
    if (nextLink(page) === null) fail(page, `expected a Link header with rel="next"`);
  }),

  check('name-invalid', 'GET /v2/UPPER/tags/list → 400 NAME_INVALID or 404', async (ctx) => {
    const r = await send(ctx, 'GET', '/v2/UPPER/tags/list');
    expectBadName(ctx, r);
  }),

  check('name-invalid', 'GET /v2/a/%2e%2e/b/tags/list (sent raw) → 400 NAME_INVALID or 404', async (ctx) => {
    expectBadName(ctx, await sendRaw(ctx, '/v2/a/%2e%2e/b/tags/list'));
  }),

  // --- Content management (deletes run last: they remove what the checks above pushed) -----------------
  check('end-9', 'DELETE manifest by tag → 202, then GET tag → 404', async (ctx) => {
    await ensureTagged(ctx);
    const tag = ctx.tags[2]!;
    const r = await send(ctx, 'DELETE', manifestPath(ctx, tag));
    if (r.status === 400 || r.status === 405) {
      note(ctx, `tag deletion unsupported: answered ${r.status}${bodySnippet(r)}`);
      if (r.body.length > 0) errorCodes(r);
      return;
    }
    expectStatus(r, 202);
    expectError(await getManifest(ctx, 'GET', tag), [404], ['MANIFEST_UNKNOWN']);
    const byDigest = await getManifest(ctx, 'HEAD', ctx.image.digest);
    if (byDigest.status !== 200)
      fail(byDigest, `deleting a tag must keep the manifest, got ${byDigest.status}`);
  }),

  check('end-9', 'DELETE manifest by digest → 202, then GET → 404', async (ctx) => {
    await ensureManifest(ctx, ctx.image);
    const r = await send(ctx, 'DELETE', manifestPath(ctx, ctx.image.digest));
    expectStatus(r, 202);
    expectError(await getManifest(ctx, 'GET', ctx.image.digest), [404], ['MANIFEST_UNKNOWN']);
  }),

  check('end-10', 'DELETE blob → 202, then HEAD → 404', async (ctx) => {
    await ensureBlob(ctx, ctx.chunked);
    const r = await send(ctx, 'DELETE', blobPath(ctx, ctx.chunked.digest));
    expectStatus(r, 202);
    expectStatus(await send(ctx, 'HEAD', blobPath(ctx, ctx.chunked.digest)), 404);
  }),
];

function expectBadName(ctx: ConformanceContext, r: Reply): void {
  if (r.status === 400) {
    expectError(r, [400], ['NAME_INVALID']);
    note(ctx, 'answered 400 NAME_INVALID');
    return;
  }
  if (r.status !== 404) {
    const location = r.headers.get('location');
    fail(r, `expected 400 NAME_INVALID or 404, got ${r.status}${location ? ` (Location: ${location})` : ''}`);
  }
  note(ctx, `answered 404${bodySnippet(r)}`);
  if (r.body.length > 0) errorCodes(r);
}

// ---------------------------------------------------------------------------------------------------------
// Running.

/** Runs one check and never throws: the outcome, reason and notes are in the result. */
export async function runCheck(ctx: ConformanceContext, c: ConformanceCheck): Promise<ConformanceResult> {
  ctx.notes = [];
  try {
    await c.fn(ctx);
    return { id: c.id, name: c.name, ok: true, error: null, notes: ctx.notes };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    return { id: c.id, name: c.name, ok: false, error, notes: ctx.notes };
  }
}

/** Registers every check as a vitest `it`, in order, sharing one context created once the target is known. */
export function defineConformanceSuite(getTarget: () => ConformanceTarget): void {
  describe('OCI Distribution Spec v1.1 conformance', () => {
    let ctx: ConformanceContext | null = null;
    beforeAll(() => {
      ctx = createContext(getTarget());
    });
    for (const c of conformanceChecks) {
      it(`${c.id}: ${c.name}`, async () => {
        const result = await runCheck(need(ctx, 'conformance context (beforeAll did not run)'), c);
        for (const n of result.notes) console.info(`[${c.id}] ${c.name}: ${n}`);
        if (!result.ok) throw new Error(result.error ?? 'check failed');
      });
    }
  });
}
