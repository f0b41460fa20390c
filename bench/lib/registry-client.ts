// The one client the registry benchmark drives every registry with, so that Palisade and
// Distribution see the same requests (and the same big blobs): blob pushes (monolithic and chunked), blob
// pulls, small image pushes and a manifest GET load test. Uses Node's global fetch (undici,
// keep-alive by default) with streamed request bodies, curl for big blobs (see curl-transfer.ts),
// and autocannon for the load test. A registry that requires authentication (Palisade) gets an
// Authorization header on every request; one that does not (Distribution) gets none.
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import autocannon from 'autocannon';
import type { BlobSource } from './blob-source.js';
import { curl, type BlobFiles } from './curl-transfer.js';
import { wrkLoad } from './wrk-load.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCTET_STREAM = 'application/octet-stream';

export interface TransferResult {
  bytes: number;
  seconds: number;
  /** Decimal megabytes (10^6 bytes) per second. */
  mbPerSecond: number;
}

export interface SmallImagesResult {
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface ManifestLoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

export interface RegistryClientOptions {
  /** Full Authorization header value (e.g. "Bearer …") for every request; none when unset. */
  authorization?: string;
}

export interface PushedImage {
  repository: string;
  tag: string;
  manifestDigest: string;
}

function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function transfer(bytes: number, startedAt: number): TransferResult {
  const seconds = (performance.now() - startedAt) / 1000;
  return { bytes, seconds, mbPerSecond: bytes / 1e6 / seconds };
}

/** Reads (and so frees the connection of) a response, failing with its body when the status is wrong. */
async function expectStatus(response: Response, expected: number, what: string): Promise<void> {
  if (response.status === expected) {
    await response.arrayBuffer();
    return;
  }
  const body = await response.text().catch((error: unknown) => `<body unreadable: ${String(error)}>`);
  throw new Error(`${what}: expected HTTP ${expected}, got ${response.status}: ${body.slice(0, 500)}`);
}

export class RegistryClient {
  readonly baseUrl: string;
  /** Sent as the Authorization header of every request; replaced when a token is renewed. */
  authorization?: string;

  constructor(baseUrl: string, options: RegistryClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    if (options.authorization !== undefined) this.authorization = options.authorization;
  }

  private url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  /** `headers` plus Authorization when the client has one (so anonymous requests stay as they were). */
  private headers(headers: Record<string, string> = {}): Record<string, string> {
    return this.authorization === undefined ? headers : { ...headers, authorization: this.authorization };
  }

  private location(response: Response, what: string): URL {
    const location = response.headers.get('location');
    if (!location) throw new Error(`${what}: HTTP ${response.status} without a Location header`);
    return new URL(location, `${this.baseUrl}/`);
  }

  /**
   * Palisade's background jobs by state, from the `palisade_jobs` gauge in /metrics; undefined
   * for a registry that has no such gauge (Distribution does no background work of this kind).
   */
  async backgroundJobs(): Promise<Record<string, number> | undefined> {
    const response = await fetch(this.url('/metrics'), { headers: this.headers() });
    const text = await response.text();
    if (response.status !== 200) return undefined;
    const counts: Record<string, number> = {};
    for (const match of text.matchAll(/^palisade_jobs\{state="(\w+)"\} (\d+)$/gm)) {
      counts[match[1]!] = Number(match[2]);
    }
    return Object.keys(counts).length ? counts : undefined;
  }

  /** GET /v2/ and return its status (200 once the registry is up and lets us in). */
  async ping(): Promise<number> {
    const response = await fetch(this.url('/v2/'), { headers: this.headers() });
    await response.arrayBuffer();
    return response.status;
  }

  /** POST /v2/<repo>/blobs/uploads/ and return the upload session URL. */
  private async startUpload(repository: string): Promise<URL> {
    const what = `POST /v2/${repository}/blobs/uploads/`;
    const response = await fetch(this.url(`/v2/${repository}/blobs/uploads/`), {
      method: 'POST',
      headers: this.headers({ 'content-length': '0' }),
    });
    // Status first: a 401 should say so (with the registry's reason), not "no Location header".
    await expectStatus(response, 202, what);
    return this.location(response, what);
  }

  private async finishUpload(
    location: URL,
    digest: string,
    body: { stream: Readable; length: number } | Uint8Array | undefined,
  ): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const what = `PUT ${url.pathname}?digest=${digest}`;
    let init: RequestInit;
    if (body === undefined) {
      init = { method: 'PUT', headers: this.headers({ 'content-length': '0' }) };
    } else if (body instanceof Uint8Array) {
      init = { method: 'PUT', headers: this.headers({ 'content-type': OCTET_STREAM }), body };
    } else {
      init = {
        method: 'PUT',
        headers: this.headers({ 'content-type': OCTET_STREAM, 'content-length': String(body.length) }),
        body: body.stream,
        duplex: 'half',
      };
    }
    const response = await fetch(url, init);
    const returned = response.headers.get('docker-content-digest');
    await expectStatus(response, 201, what);
    if (returned !== null && returned !== digest) {
      throw new Error(`${what}: registry answered with digest ${returned}`);
    }
  }

  /** The curl options that send this client's Authorization header, if it has one. */
  private curlAuthorization(): { authorization?: string } {
    return this.authorization === undefined ? {} : { authorization: this.authorization };
  }

  /** Workload a with curl: POST, then one PUT ?digest= of the blob's file. */
  async pushMonolithicCurl(repository: string, blob: BlobSource, files: BlobFiles): Promise<TransferResult> {
    const digest = blob.digest();
    const startedAt = performance.now();
    const location = await this.startUpload(repository);
    location.searchParams.set('digest', digest);
    const put = await curl('PUT', location.toString(), {
      upload: files.whole,
      headers: [`Content-Type: ${OCTET_STREAM}`],
      ...this.curlAuthorization(),
    });
    if (put.status !== 201) throw new Error(`PUT ${location.pathname}: HTTP ${put.status}`);
    return transfer(blob.size, startedAt);
  }

  /** Workload b with curl: POST, one PATCH per chunk file (following Location), then PUT ?digest=. */
  async pushChunkedCurl(repository: string, blob: BlobSource, files: BlobFiles): Promise<TransferResult> {
    const digest = blob.digest();
    const startedAt = performance.now();
    let location = await this.startUpload(repository);
    for (const chunk of files.chunks) {
      const patch = await curl('PATCH', location.toString(), {
        upload: chunk.path,
        headers: [`Content-Type: ${OCTET_STREAM}`, `Content-Range: ${chunk.start}-${chunk.end - 1}`],
        ...this.curlAuthorization(),
      });
      if (patch.status !== 202) throw new Error(`PATCH ${location.pathname}: HTTP ${patch.status}`);
      const next = patch.headers.get('location');
      if (next) location = new URL(next, `${this.baseUrl}/`);
    }
    await this.finishUpload(location, digest, undefined);
    return transfer(blob.size, startedAt);
  }

  /** Workload c with curl: GET into /dev/null, checking the length (the digest is checked untimed). */
  async pullBlobCurl(repository: string, digest: string, expectedSize: number): Promise<TransferResult> {
    const startedAt = performance.now();
    const get = await curl('GET', this.url(`/v2/${repository}/blobs/${digest}`), this.curlAuthorization());
    const result = transfer(get.bytes, startedAt);
    if (get.status !== 200 || get.bytes !== expectedSize) {
      throw new Error(`GET blob: HTTP ${get.status}, ${get.bytes} bytes (expected ${expectedSize})`);
    }
    return result;
  }

  /** Workload a: POST, then one PUT ?digest= streaming the whole blob. */
  async pushMonolithic(repository: string, blob: BlobSource): Promise<TransferResult> {
    const digest = blob.digest(); // outside the timed section (cached after the first call)
    const startedAt = performance.now();
    const location = await this.startUpload(repository);
    await this.finishUpload(location, digest, { stream: blob.stream(), length: blob.size });
    return transfer(blob.size, startedAt);
  }

  /** Workload b: POST, one PATCH per chunk (following Location each time), then PUT ?digest= with no body. */
  async pushChunked(repository: string, blob: BlobSource, chunkSize: number): Promise<TransferResult> {
    const digest = blob.digest();
    const startedAt = performance.now();
    let location = await this.startUpload(repository);
    for (let start = 0; start < blob.size; start += chunkSize) {
      const end = Math.min(blob.size, start + chunkSize);
      const what = `PATCH ${location.pathname} (${start}-${end - 1})`;
      const response = await fetch(location, {
        method: 'PATCH',
        headers: this.headers({
          'content-type': OCTET_STREAM,
          'content-range': `${start}-${end - 1}`,
          'content-length': String(end - start),
        }),
        body: blob.stream(start, end),
        duplex: 'half',
      });
      await expectStatus(response, 202, what);
      location = this.location(response, what);
    }
    await this.finishUpload(location, digest, undefined);
    return transfer(blob.size, startedAt);
  }

  /** Workload c: GET the blob, consuming the stream and checking its length and sha256. */
  async pullBlob(repository: string, digest: string, expectedSize: number): Promise<TransferResult> {
    const what = `GET /v2/${repository}/blobs/${digest}`;
    const startedAt = performance.now();
    const response = await fetch(this.url(`/v2/${repository}/blobs/${digest}`), {
      headers: this.headers(),
    });
    if (response.status !== 200 || response.body === null) {
      await expectStatus(response, 200, what);
      throw new Error(`${what}: no body`);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const body: AsyncIterable<Uint8Array> = response.body;
    for await (const chunk of body) {
      hash.update(chunk);
      bytes += chunk.byteLength;
    }
    const result = transfer(bytes, startedAt);
    const actual = `sha256:${hash.digest('hex')}`;
    if (bytes !== expectedSize) throw new Error(`${what}: got ${bytes} bytes, expected ${expectedSize}`);
    if (actual !== digest) throw new Error(`${what}: content has digest ${actual}`);
    return result;
  }

  /** Monolithic upload (POST then PUT) of a small in-memory blob; returns its descriptor. */
  private async pushSmallBlob(
    repository: string,
    data: Uint8Array,
  ): Promise<{ digest: string; size: number }> {
    const digest = sha256(data);
    const location = await this.startUpload(repository);
    await this.finishUpload(location, digest, data);
    return { digest, size: data.byteLength };
  }

  /** One small image: a unique JSON config, one ~1 KiB random layer, and an OCI manifest under `tag`. */
  async pushSmallImage(repository: string, tag: string, layerBytes = 1024): Promise<PushedImage> {
    const layerData = randomBytes(layerBytes);
    const layer = await this.pushSmallBlob(repository, layerData);
    const configData = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created: new Date().toISOString(),
        config: { Labels: { 'bench.tag': tag, 'bench.nonce': randomBytes(8).toString('hex') } },
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    );
    const config = await this.pushSmallBlob(repository, configData);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, ...config },
        layers: [{ mediaType: OCI_LAYER, ...layer }],
      }),
    );
    const manifestDigest = sha256(manifest);
    const what = `PUT /v2/${repository}/manifests/${tag}`;
    const response = await fetch(this.url(`/v2/${repository}/manifests/${tag}`), {
      method: 'PUT',
      headers: this.headers({ 'content-type': OCI_MANIFEST }),
      body: manifest,
    });
    const returned = response.headers.get('docker-content-digest');
    await expectStatus(response, 201, what);
    if (returned !== null && returned !== manifestDigest) {
      throw new Error(`${what}: registry answered with digest ${returned}, expected ${manifestDigest}`);
    }
    return { repository, tag, manifestDigest };
  }

  /** Workload d: `count` small image pushes, `concurrency` at a time. */
  async pushSmallImages(
    repository: string,
    count: number,
    concurrency: number,
    tagPrefix: string,
  ): Promise<SmallImagesResult> {
    const startedAt = performance.now();
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && next < count) {
        const index = next++;
        try {
          await this.pushSmallImage(repository, `${tagPrefix}${index}`);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    const seconds = (performance.now() - startedAt) / 1000;
    return { images: count, seconds, imagesPerSecond: count / seconds };
  }

  /** GET a manifest once and check that it is the one that was pushed (before load-testing it). */
  async checkManifest(image: PushedImage): Promise<void> {
    const what = `GET /v2/${image.repository}/manifests/${image.tag}`;
    const response = await fetch(this.url(`/v2/${image.repository}/manifests/${image.tag}`), {
      headers: this.headers({ accept: OCI_MANIFEST }),
    });
    if (response.status !== 200) await expectStatus(response, 200, what);
    const body = new Uint8Array(await response.arrayBuffer());
    const contentType = response.headers.get('content-type') ?? '';
    if (!contentType.startsWith(OCI_MANIFEST)) throw new Error(`${what}: Content-Type ${contentType}`);
    if (sha256(body) !== image.manifestDigest) throw new Error(`${what}: not the manifest that was pushed`);
  }

  /** Workload e: autocannon GETs of one manifest by tag. */
  async loadManifest(
    image: PushedImage,
    connections: number,
    durationSeconds: number,
    client: 'wrk' | 'autocannon' = 'autocannon',
  ): Promise<ManifestLoadResult> {
    if (client === 'wrk') {
      const result = await wrkLoad({
        url: this.url(`/v2/${image.repository}/manifests/${image.tag}`),
        headers: this.headers({ accept: OCI_MANIFEST }),
        connections,
        durationSeconds,
      });
      // wrk tells no status apart: any non-2xx/3xx answer under load fails the run (see below).
      if (result.non2xx > 0) {
        throw new Error(
          `GET /v2/${image.repository}/manifests/${image.tag} under load: ${result.non2xx} responses were not 2xx`,
        );
      }
      return result;
    }
    const result = await autocannon({
      url: this.url(`/v2/${image.repository}/manifests/${image.tag}`),
      method: 'GET',
      connections,
      duration: durationSeconds,
      headers: this.headers({ accept: OCI_MANIFEST }),
    });
    // 4xx under load means the requests were refused (401 from a missing or expired token, 404, …):
    // their rate says nothing about serving manifests, so fail instead of reporting it.
    const refused = Object.entries(result.statusCodeStats ?? {}).filter(
      ([status, stats]) => status.startsWith('4') && (stats.count ?? 0) > 0,
    );
    if (refused.length > 0) {
      const counts = refused.map(([status, stats]) => `${stats.count} × HTTP ${status}`).join(', ');
      throw new Error(`GET /v2/${image.repository}/manifests/${image.tag} under load: ${counts}`);
    }
    return {
      requestsPerSecond: result.requests.total / result.duration,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
    };
  }
}
