// End-to-end harness: runs the real `palisade` CLI as a child process (exactly as an operator
// would), builds small but valid OCI image layouts on disk for real clients (skopeo, podman) to
// push, and gives every suite a database per dialect — the embedded SQLite always, PostgreSQL too
// when PALISADE_TEST_DATABASE_URL is set — so each e2e suite runs against both stores.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Dialect } from '../../src/db/dialect.js';
import { createTestDatabase, testDialects } from '../../src/db/test-databases.js';

export { testDialects };
export type { Dialect };

/** The repository root: the CLI runs from here so `tsx` and relative paths resolve. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const CLI_ENTRY = 'src/cli/palisade.ts';
const READY_LINE = /^Palisade listening on http:\/\/(\[[^\]]+\]|[^:/\s]+):(\d+)$/m;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;
/** Output kept per process (info-level request logs of a whole suite fit). */
const OUTPUT_LIMIT = 16 * 1024 * 1024;

// ---- temporary directories ----------------------------------------------------------------

/** Temporary directories a suite creates; `removeAll` runs in afterAll whatever happened. */
export class TempDirs {
  readonly #dirs: string[] = [];

  /** A fresh directory; lowercase name, since podman derives image names from layout paths. */
  make(prefix = 'palisade-e2e-'): string {
    const dir = join(tmpdir(), `${prefix}${randomBytes(6).toString('hex')}`);
    mkdirSync(dir, { mode: 0o700 });
    this.#dirs.push(dir);
    return dir;
  }

  removeAll(): void {
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the server process --------------------------------------------------------------------

export interface StartServerOptions {
  /** Extra environment (PALISADE_* settings); PALISADE_* from the test's own environment is dropped. */
  env?: Record<string, string>;
  /** Extra CLI arguments, after the harness's own (commander keeps the last value of a flag). */
  args?: string[];
  /** Data directory to reuse (e.g. after a crash); a fresh temporary one otherwise. */
  dataDir?: string;
  /** postgres://… (or a SQLite path) passed as --database-url. */
  databaseUrl?: string;
  /**
   * When true the harness passes no --host/--port flags of its own (to observe defaults or the
   * config layering); set the port through env or args then.
   */
  bare?: boolean;
  /**
   * The server's public URL (its token issuer). Default http://palisade.e2e: stable across
   * restarts, so an admin token minted once stays valid when a test restarts the server on another
   * port. Pass false for clients that follow the token realm (skopeo, podman): the issuer is then
   * the real http://host:port the server listens on.
   */
  publicUrl?: string | false;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningServer {
  /** http://host:port as printed on the ready line. */
  url: string;
  host: string;
  port: number;
  dataDir: string;
  process: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<ExitStatus>;
  stdout(): string;
  stderr(): string;
  /** Sends a signal (SIGTERM by default) and resolves with the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** The PALISADE_* settings the server was started with (for CLI commands against its data). */
  env: Record<string, string>;
  /** A break-glass admin access token from `palisade admin token` run against this server's data. */
  adminToken(): Promise<string>;
  /** SIGKILL: the crash case. Resolves once the process is gone. */
  kill9(): Promise<void>;
}

const live = new Set<RunningServer>();
const E2E_KEK = randomBytes(32).toString('base64url');
const ownedDataDirs = new TempDirs();

/** Environment for a child: ours minus any PALISADE_* (so the developer's shell cannot leak in). */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PALISADE_')) env[key] = value;
  }
  return { ...env, PALISADE_LOG_LEVEL: 'warn', ...extra };
}

/** Starts `palisade serve` and resolves once it has printed its ready line. */
export async function startServer(opts: StartServerOptions = {}): Promise<RunningServer> {
  const dataDir = opts.dataDir ?? ownedDataDirs.make('palisade-e2e-data-');
  const args = ['--import', 'tsx', CLI_ENTRY, 'serve', '--data-dir', dataDir];
  if (!opts.bare) args.push('--host', '127.0.0.1', '--port', '0');
  if (opts.databaseUrl !== undefined) args.push('--database-url', opts.databaseUrl);
  args.push(...(opts.args ?? []));

  // One key-encryption key for every server of this test run: servers that share a PostgreSQL
  // database must share it, exactly as production replicas must.
  const settings: Record<string, string> = { PALISADE_IDENTITY__KEY_ENCRYPTION_KEY: E2E_KEK, ...opts.env };
  const publicUrl = opts.publicUrl ?? 'http://palisade.e2e';
  if (publicUrl !== false) settings.PALISADE_PUBLIC_URL ??= publicUrl;
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: childEnv(settings),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    if (out.length < OUTPUT_LIMIT) out += chunk;
  });
  child.stderr.on('data', (chunk: string) => {
    if (err.length < OUTPUT_LIMIT) err += chunk;
  });
  const exited = new Promise<ExitStatus>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });

  const ready = await new Promise<RegExpExecArray>((resolveReady, rejectReady) => {
    const fail = (why: string) => {
      cleanup();
      child.kill('SIGKILL');
      rejectReady(
        new Error(`palisade serve ${why}\nargs: ${args.join(' ')}\nstderr:\n${err}\nstdout:\n${out}`),
      );
    };
    const timer = setTimeout(
      () => fail(`printed no ready line within ${READY_TIMEOUT_MS} ms`),
      READY_TIMEOUT_MS,
    );
    const onData = () => {
      const match = READY_LINE.exec(out);
      if (match) {
        cleanup();
        resolveReady(match);
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(`exited before it was ready (code ${String(code)}, signal ${String(signal)})`);
    const onError = (error: Error) => fail(`could not be started: ${error.message}`);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.stdout.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });

  const host = ready[1]!;
  const port = Number(ready[2]);
  const server: RunningServer = {
    url: `http://${host}:${port}`,
    host,
    port,
    dataDir,
    env: settings,
    process: child,
    exited,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const status = await exited;
      clearTimeout(timer);
      live.delete(server);
      return status.code;
    },
    async adminToken() {
      const cliArgs = [
        'admin',
        'token',
        '--ttl',
        '1h',
        '--data-dir',
        dataDir,
        '--host',
        host.replace(/^\[|\]$/g, ''),
        '--port',
        String(port),
      ];
      if (opts.databaseUrl !== undefined) cliArgs.push('--database-url', opts.databaseUrl);
      const result = await runCli(cliArgs, settings);
      if (result.code !== 0) throw new Error(`palisade admin token failed: ${result.stderr}`);
      return result.stdout.trim();
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      live.delete(server);
    },
  };
  live.add(server);
  return server;
}

/** For afterAll: kills whatever a suite left running and removes data dirs the harness made. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...live].map((server) => server.kill9()));
  ownedDataDirs.removeAll();
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** fetch that sends `Authorization: Bearer <token()>` unless the request sets its own header. */
export function authorizedFetch(token: () => string): typeof fetch {
  return (input, init = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${token()}`);
    return fetch(input, { ...init, headers });
  };
}

/**
 * A containers-auth.json (for REGISTRY_AUTH_FILE) holding an access token as the password for
 * `host`: skopeo and podman then run the registry token flow (401 → /token with Basic → Bearer).
 */
export function writeAuthFile(dir: string, host: string, token: string): string {
  const file = join(dir, 'auth.json');
  const auth = Buffer.from(`palisade:${token}`).toString('base64');
  writeFileSync(file, JSON.stringify({ auths: { [host]: { auth } } }), { mode: 0o600 });
  return file;
}

/** Runs the CLI to completion (for --help and start-up failures); kills it after `timeoutMs`. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<CliResult> {
  return new Promise((resolveRun, rejectRun) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI_ENTRY, ...args],
      { cwd: REPO_ROOT, env: childEnv(env), timeout: timeoutMs, maxBuffer: OUTPUT_LIMIT, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number' && error.signal === null) {
          rejectRun(new Error(`cannot run the CLI: ${error.message}`, { cause: error }));
          return;
        }
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolveRun({ code, signal: error?.signal ?? null, stdout, stderr });
      },
    );
  });
}

// ---- databases ----------------------------------------------------------------------------

export interface E2eDatabase {
  dialect: Dialect;
  /** --database-url for the server; undefined means the embedded SQLite under the data dir. */
  databaseUrl: string | undefined;
  dispose(): Promise<void>;
}

/**
 * SQLite: the server's own default (a file under its data dir), so that path is what e2e tests
 * exercise. PostgreSQL: a fresh, migrated schema of PALISADE_TEST_DATABASE_URL, dropped by dispose.
 */
export async function e2eDatabase(dialect: Dialect): Promise<E2eDatabase> {
  if (dialect === 'sqlite') return { dialect, databaseUrl: undefined, dispose: () => Promise.resolve() };
  const database = await createTestDatabase(dialect);
  return { dialect, databaseUrl: database.url, dispose: () => database.dispose() };
}

// ---- OCI image layouts --------------------------------------------------------------------

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface LayoutOptions {
  /** The reference name in index.json (what `oci:<dir>:<tag>` selects). Default "latest". */
  tag?: string;
  /** Files of each layer, path → content; default two small text files. One layer per entry. */
  layers?: Array<Record<string, string | Buffer>>;
  /** Written into a file of every layer so different layouts (and platforms) never share blobs. */
  salt?: string;
  /** More than one platform: an image per platform under an image index. */
  platforms?: Platform[];
  /** zlib level for the layers (0 stores, fast for big random layers). Default 1. */
  gzipLevel?: number;
}

export interface LayoutImage {
  platform: Platform;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layerDigests: string[];
  /** sha256 of each layer's uncompressed tar (the config's rootfs.diff_ids). */
  diffIds: string[];
}

export interface OciLayout {
  dir: string;
  tag: string;
  /** Digest `oci:<dir>:<tag>` resolves to: the image manifest, or the index when multi-platform. */
  digest: string;
  mediaType: string;
  images: LayoutImage[];
  /** Every blob written (manifests, configs, layers), digest → bytes. */
  blobs: Map<string, Buffer>;
}

export function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * A deterministic tar of `files` made by the system `tar` (sorted, zero mtimes and owners, ustar),
 * so its digest depends only on the contents.
 */
export async function makeTar(files: Record<string, string | Buffer>): Promise<Buffer> {
  const staging = mkdtempSync(join(tmpdir(), 'palisade-e2e-tar-'));
  try {
    const names = Object.keys(files).sort();
    for (const name of names) {
      const path = join(staging, name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, files[name]!);
    }
    return await new Promise<Buffer>((resolveTar, rejectTar) => {
      execFile(
        'tar',
        [
          '--create',
          '--format=ustar',
          '--sort=name',
          '--mtime=@0',
          '--owner=0',
          '--group=0',
          '--numeric-owner',
          '--mode=a+rX,u+w,go-w',
          '--file=-',
          '--directory',
          staging,
          '--',
          ...names,
        ],
        { encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (error) rejectTar(new Error(`tar failed: ${error.message}\n${stderr.toString()}`));
          else resolveTar(stdout);
        },
      );
    });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Writes a valid OCI image layout (oci-layout, index.json, blobs/sha256/…) and describes it. */
export async function buildOciLayout(dir: string, opts: LayoutOptions = {}): Promise<OciLayout> {
  const tag = opts.tag ?? 'latest';
  const salt = opts.salt ?? `${Date.now()}-${Math.random()}`;
  const platforms = opts.platforms ?? [{ os: 'linux', architecture: 'amd64' }];
  const blobs = new Map<string, Buffer>();
  const put = (data: Buffer): { digest: string; size: number } => {
    const digest = sha256(data);
    blobs.set(digest, data);
    return { digest, size: data.length };
  };

  const images: LayoutImage[] = [];
  for (const platform of platforms) {
    const platformName = [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
    const layerFiles = opts.layers ?? [
      { 'etc/palisade-e2e.txt': 'hello from the palisade e2e tests\n', 'app/run.sh': '#!/bin/sh\necho hi\n' },
      { 'app/data.txt': 'second layer\n' },
    ];
    const layers: Array<{ digest: string; size: number; diffId: string }> = [];
    for (const [index, files] of layerFiles.entries()) {
      const withSalt = { ...files, [`etc/e2e-salt-${index}`]: `${salt} ${platformName} ${index}\n` };
      const tar = await makeTar(withSalt);
      const gz = gzipSync(tar, { level: opts.gzipLevel ?? 1 });
      layers.push({ ...put(gz), diffId: sha256(tar) });
    }
    const config = put(
      Buffer.from(
        JSON.stringify({
          created: '2024-01-01T00:00:00Z',
          architecture: platform.architecture,
          os: platform.os,
          ...(platform.variant ? { variant: platform.variant } : {}),
          config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/app/run.sh'] },
          rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
          history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'palisade e2e' })),
        }),
      ),
    );
    const manifest = put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
          layers: layers.map((l) => ({ mediaType: OCI_LAYER_GZIP, digest: l.digest, size: l.size })),
        }),
      ),
    );
    images.push({
      platform,
      manifestDigest: manifest.digest,
      manifestSize: manifest.size,
      configDigest: config.digest,
      layerDigests: layers.map((l) => l.digest),
      diffIds: layers.map((l) => l.diffId),
    });
  }

  let top: { digest: string; size: number; mediaType: string };
  if (images.length === 1) {
    const image = images[0]!;
    top = { digest: image.manifestDigest, size: image.manifestSize, mediaType: OCI_MANIFEST };
  } else {
    const index = put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: images.map((image) => ({
            mediaType: OCI_MANIFEST,
            digest: image.manifestDigest,
            size: image.manifestSize,
            platform: image.platform,
          })),
        }),
      ),
    );
    top = { ...index, mediaType: OCI_INDEX };
  }

  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const [digest, data] of blobs) writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: top.mediaType,
          digest: top.digest,
          size: top.size,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  return { dir, tag, digest: top.digest, mediaType: top.mediaType, images, blobs };
}

// ---- external commands and registry checks ------------------------------------------------

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; never rejects for a non-zero exit (the result says). */
export function run(
  command: string,
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> & { child: ChildProcess } {
  let child: ChildProcess | undefined;
  const promise = new Promise<CommandResult>((resolveRun, rejectRun) => {
    child = execFile(
      command,
      args,
      {
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
        env: options.env ?? process.env,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code === 'string') {
          // ENOENT and friends: the command itself could not run
          rejectRun(new Error(`cannot run ${command}: ${error.message}`, { cause: error }));
          return;
        }
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolveRun({ code, stdout, stderr });
      },
    );
  });
  return Object.assign(promise, { child: child! });
}

/** Throws with the command's output when it did not exit 0. */
export function expectSuccess(result: CommandResult, what: string): CommandResult {
  if (result.code !== 0) {
    throw new Error(
      `${what} exited ${String(result.code)}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
  }
  return result;
}

export const ALL_MANIFEST_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(', ');

interface ManifestJson {
  mediaType?: string;
  config?: { digest: string };
  layers?: Array<{ digest: string }>;
  manifests?: Array<{ digest: string }>;
  subject?: { digest: string };
}

export interface ConsistencyReport {
  repositories: string[];
  /** repository:tag → manifest digest. */
  tags: Map<string, string>;
  manifestsChecked: number;
  blobsChecked: number;
  /** Human-readable problems; empty when every tag resolves to a manifest whose blobs all exist. */
  problems: string[];
}

/**
 * Walks the registry from the outside: catalog → tags → GET every manifest (and every child of an
 * index) → HEAD every referenced blob. Anything visible must be whole.
 */
export async function checkConsistency(
  baseUrl: string,
  http: typeof fetch = fetch,
): Promise<ConsistencyReport> {
  const report: ConsistencyReport = {
    repositories: [],
    tags: new Map(),
    manifestsChecked: 0,
    blobsChecked: 0,
    problems: [],
  };
  const catalog = await http(`${baseUrl}/v2/_catalog?n=10000`);
  if (catalog.status !== 200) {
    report.problems.push(`GET /v2/_catalog → ${catalog.status}`);
    return report;
  }
  report.repositories = ((await catalog.json()) as { repositories: string[] }).repositories;
  for (const repository of report.repositories) {
    const list = await http(`${baseUrl}/v2/${repository}/tags/list?n=10000`);
    if (list.status !== 200) {
      report.problems.push(`GET /v2/${repository}/tags/list → ${list.status}`);
      continue;
    }
    const { tags } = (await list.json()) as { tags: string[] | null };
    const seen = new Set<string>();
    const visit = async (reference: string, via: string): Promise<void> => {
      const response = await http(`${baseUrl}/v2/${repository}/manifests/${reference}`, {
        headers: { Accept: ALL_MANIFEST_TYPES },
      });
      const body = Buffer.from(await response.arrayBuffer());
      report.manifestsChecked++;
      if (response.status !== 200) {
        report.problems.push(`${via}: GET manifest ${repository}@${reference} → ${response.status}`);
        return;
      }
      const digest = response.headers.get('docker-content-digest') ?? '';
      if (sha256(body) !== digest) {
        report.problems.push(`${via}: manifest ${repository}@${reference} body does not hash to ${digest}`);
      }
      if (seen.has(digest)) return;
      seen.add(digest);
      const manifest = JSON.parse(body.toString('utf8')) as ManifestJson;
      for (const child of manifest.manifests ?? []) await visit(child.digest, `${via} → ${child.digest}`);
      const blobs = [...(manifest.config ? [manifest.config] : []), ...(manifest.layers ?? [])];
      for (const blob of blobs) {
        const head = await http(`${baseUrl}/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' });
        report.blobsChecked++;
        if (head.status !== 200) {
          report.problems.push(`${via}: HEAD blob ${repository}@${blob.digest} → ${head.status}`);
        }
      }
    };
    for (const tag of tags ?? []) {
      const head = await http(`${baseUrl}/v2/${repository}/manifests/${tag}`, {
        method: 'HEAD',
        headers: { Accept: ALL_MANIFEST_TYPES },
      });
      report.tags.set(`${repository}:${tag}`, head.headers.get('docker-content-digest') ?? '');
      await visit(tag, `${repository}:${tag}`);
    }
  }
  return report;
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// ---- server logs --------------------------------------------------------------------------

/** Every pino JSON line a server printed (start it with PALISADE_LOG_LEVEL=info to get requests). */
export function logLines(stdout: string): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null) lines.push(value as Record<string, unknown>);
    } catch {
      // a line cut by the output limit
    }
  }
  return lines;
}

export interface LoggedRequest {
  reqId: string;
  method: string;
  url: string;
  status: number | undefined;
}

/** Requests as the server logged them (method, raw URL, final status), in arrival order. */
export function requestLog(stdout: string): LoggedRequest[] {
  const byId = new Map<string, LoggedRequest>();
  for (const line of logLines(stdout)) {
    const reqId = typeof line.reqId === 'string' ? line.reqId : undefined;
    if (!reqId) continue;
    const req = line.req as { method?: string; url?: string } | undefined;
    const res = line.res as { statusCode?: number } | undefined;
    if (line.msg === 'incoming request' && req?.method && req.url) {
      byId.set(reqId, { reqId, method: req.method, url: req.url, status: undefined });
    } else if (line.msg === 'request completed' && res?.statusCode !== undefined) {
      const entry = byId.get(reqId);
      if (entry) entry.status = res.statusCode;
    }
  }
  return [...byId.values()];
}

// ---- external clients ---------------------------------------------------------------------

export interface ToolProbe {
  available: boolean;
  /** Why not, when unavailable (shown in the test output). */
  reason: string;
}

/** Whether a command can run at all (`<command> --version`). */
export async function probeCommand(command: string): Promise<ToolProbe> {
  try {
    const result = await run(command, ['--version'], { timeoutMs: 30_000 });
    if (result.code === 0) return { available: true, reason: result.stdout.trim() };
    return {
      available: false,
      reason: `${command} --version exited ${String(result.code)}: ${result.stderr.trim()}`,
    };
  } catch (error) {
    return {
      available: false,
      reason: `${command} cannot run: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

export function skopeo(
  args: string[],
  timeoutMs = 120_000,
): Promise<CommandResult> & { child: ChildProcess } {
  return run('skopeo', args, { timeoutMs });
}

/** host:port of a server, as registry references spell it. */
export function registryHost(server: { host: string; port: number }): string {
  return `${server.host}:${server.port}`;
}
