// Issue #3 (identity) asks what tokens cost: how many access tokens one core mints and verifies,
// how many registry tokens /token hands out, and how much manifest GET throughput a bearer token
// costs compared with an anonymous pull of a public repository on the same server (the target:
// auth costs at most 15%). Run `npx tsx bench/identity.bench.ts --help` for the options.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { configSchema } from '../src/config/schema.js';
import { openDatabase } from '../src/db/database.js';
import { IdentityStore } from '../src/identity/store.js';
import { createServer, type PalisadeServer } from '../src/server/server.js';
import { OCI_MANIFEST } from './lib/registry-client.js';
import {
  mintPalisadeToken,
  splitCommand,
  startPalisade,
  type RunningServer,
} from './lib/registry-servers.js';
import { canPin, pin } from './lib/cpu.js';
import { runBenchmark } from './lib/main.js';
import { machineInfo, machineLine, median } from './lib/report.js';

const REPOSITORY = 'bench/app';
const TAG = 'v1';
const BREAK_GLASS = 'system:break-glass';
const ADMIN_SCOPE = ['registry', 'api', 'admin'];
const TARGET_RATIO = 0.85;
/** Distinct tokens the verify loops cycle through, so no result could be memoised on the token. */
const TOKEN_POOL = 256;
const DEFAULT_CLI = 'node dist/src/cli/palisade.js';
/** /token allows 1,200 requests a minute per address by default; the load test would see 429s. */
const TOKEN_RATE_LIMIT = 1_000_000;

const VARIANTS = ['anonymous', 'registryToken', 'accessToken'] as const;
type Variant = (typeof VARIANTS)[number];
const VARIANT_TITLES: Record<Variant, string> = {
  anonymous: '(a) anonymous, repository marked public',
  registryToken: '(b) Bearer registry token from /token',
  accessToken: '(c) Bearer admin access token',
};

const USAGE = `Usage: npx tsx bench/identity.bench.ts [options]

Measures what identity costs (issue #3), after \`npm run build\`:
  1. access tokens minted per second in-process (the server's TokenService, one await at a time,
     so one core), and registry tokens per second from GET /token over HTTP;
  2. tokens verified per second in-process: access tokens (signature + revocation lookup) and
     registry tokens (signature only);
  3. manifest GET by tag with autocannon on one running Palisade server: (a) anonymous pull of a
     repository marked public, (b) with a registry token from /token, (c) with an admin access
     token; requests/s, p99, the server's CPU time per request, and (b)/(a), (c)/(a) against the
     target ≥ ${TARGET_RATIO} (auth costs at most 15% of throughput).
The in-process part runs on a server created in this process; the HTTP part on a separate
\`palisade serve\` process (temp data dir, 127.0.0.1, /token rate limit raised to ${TOKEN_RATE_LIMIT}/min)
with an admin token from \`palisade admin token\`. When taskset is available and the machine has
two or more CPUs, this process (load generator and in-process loops) is pinned to CPU 0 and the
server to CPU 1, so "one core" is literal and client and server never share one.

Options:
  --duration S          seconds per measurement (default 5)
  --warmup S            unmeasured seconds before each kind of measurement (default 2)
  --rounds N            rounds of (a), (b), (c), alternating their order (default 3); medians are
                        reported
  --connections N       autocannon connections for manifest GET (default 64)
  --token-connections N autocannon connections for GET /token (default 16)
  --palisade-cmd CMD    the Palisade CLI (default "${DEFAULT_CLI}"); "serve …" and
                        "admin token …" are appended
  --no-pin              do not pin this process and the server to separate CPUs
  --json                print the raw figures as JSON instead of the tables
  -h, --help            show this help

Progress goes to stderr.`;

interface Options {
  durationSeconds: number;
  warmupSeconds: number;
  rounds: number;
  connections: number;
  tokenConnections: number;
  palisadeCommand: string;
  pin: boolean;
  json: boolean;
}

class UsageError extends Error {}

function integerOption(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < min) {
    throw new UsageError(`--${name} must be an integer ≥ ${min}`);
  }
  return number;
}

function parseOptions(argv: string[]): Options | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        duration: { type: 'string' },
        warmup: { type: 'string' },
        rounds: { type: 'string' },
        connections: { type: 'string' },
        'token-connections': { type: 'string' },
        'palisade-cmd': { type: 'string' },
        'no-pin': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return 'help';
  return {
    durationSeconds: integerOption('duration', values.duration, 5),
    warmupSeconds: integerOption('warmup', values.warmup, 2, 0),
    rounds: integerOption('rounds', values.rounds, 3),
    connections: integerOption('connections', values.connections, 64),
    tokenConnections: integerOption('token-connections', values['token-connections'], 16),
    palisadeCommand: values['palisade-cmd'] ?? DEFAULT_CLI,
    pin: !values['no-pin'],
    json: values.json,
  };
}

function progress(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

/** Everything that must be undone on the way out, whatever the way out is. */
class Resources {
  server: RunningServer | undefined;
  inProcess: PalisadeServer | undefined;
  tempRoot: string | undefined;
  interrupted: NodeJS.Signals | undefined;
  private cleaning: Promise<void> | undefined;

  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      await this.inProcess?.close().catch(() => undefined);
      this.inProcess = undefined;
      await this.server?.stop();
      if (this.tempRoot !== undefined) {
        progress(`removing ${this.tempRoot}`);
        await rm(this.tempRoot, { recursive: true, force: true });
        this.tempRoot = undefined;
      }
    })();
    return this.cleaning;
  }

  /** Last resort from a process 'exit' handler, where nothing asynchronous runs any more. */
  cleanupNow(): void {
    this.server?.killNow();
    if (this.tempRoot !== undefined) rmSync(this.tempRoot, { recursive: true, force: true });
    this.tempRoot = undefined;
  }
}

// --- CPU placement and accounting ---

let clockTicks: number | undefined;

/**
 * User + system CPU seconds of a whole process (all its threads: the event loop and the libuv
 * pool where WebCrypto signs and verifies), from /proc/<pid>/stat.
 */
function processCpuSeconds(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks; // utime, stime
}

// --- in-process loops ---

interface LoopFigures {
  operations: number;
  seconds: number;
  perSecond: number;
  /** Mean wall time per operation. */
  microsPerOperation: number;
  /** CPU time of this process over wall time: how many cores the loop kept busy. */
  coresBusy: number;
}

/** Runs `operation` one await at a time for `seconds`; one operation in flight means one core. */
async function timedLoop(
  seconds: number,
  operation: (index: number) => Promise<unknown>,
): Promise<LoopFigures> {
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  const deadline = startedAt + seconds * 1000;
  let operations = 0;
  while (performance.now() < deadline) await operation(operations++);
  const elapsed = (performance.now() - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    operations,
    seconds: elapsed,
    perSecond: operations / elapsed,
    microsPerOperation: (elapsed * 1e6) / operations,
    coresBusy: (cpu.user + cpu.system) / 1e6 / elapsed,
  };
}

interface InProcessFigures {
  mintAccessToken: LoopFigures;
  verifyAccessToken: LoopFigures;
  verifyRegistryToken: LoopFigures;
}

async function measureInProcess(options: Options, resources: Resources): Promise<InProcessFigures> {
  const config = configSchema.parse({
    dataDir: join(resources.tempRoot!, 'in-process'),
    port: 0,
    logLevel: 'silent',
    publicUrl: 'http://palisade.bench',
    registry: { gc: { enabled: false } },
  });
  const server = await createServer(config);
  resources.inProcess = server;
  const tokens = server.identity.tokens;
  const mint = () => tokens.mintAccessToken({ subject: BREAK_GLASS, scope: ADMIN_SCOPE });

  progress(`in-process: minting access tokens for ${options.durationSeconds} s`);
  await timedLoop(options.warmupSeconds, mint);
  const mintAccessToken = await timedLoop(options.durationSeconds, mint);
  progress(`in-process: ${mintAccessToken.perSecond.toFixed(0)} access tokens/s`);

  const accessTokens = (await Promise.all(Array.from({ length: TOKEN_POOL }, mint))).map((m) => m.token);
  const registryTokens = (
    await Promise.all(
      Array.from({ length: TOKEN_POOL }, () =>
        tokens.mintRegistryToken({
          subject: BREAK_GLASS,
          access: [{ type: 'repository', name: REPOSITORY, actions: ['pull'] }],
        }),
      ),
    )
  ).map((m) => m.token);
  // A loop that verified nothing (say, every call threw) would look very fast.
  const kinds = [
    (await tokens.verify(accessTokens[0]!, ['access', 'registry'])).kind,
    (await tokens.verify(registryTokens[0]!, ['access', 'registry'])).kind,
  ];
  if (kinds.join() !== 'access,registry') throw new Error(`verify returned kinds ${kinds.join()}`);

  const verifyLoop = (pool: string[]) => (index: number) =>
    tokens.verify(pool[index % pool.length]!, ['access', 'registry']);
  progress(`in-process: verifying access tokens for ${options.durationSeconds} s`);
  await timedLoop(options.warmupSeconds, verifyLoop(accessTokens));
  const verifyAccessToken = await timedLoop(options.durationSeconds, verifyLoop(accessTokens));
  progress(`in-process: ${verifyAccessToken.perSecond.toFixed(0)} access token verifications/s`);
  progress(`in-process: verifying registry tokens for ${options.durationSeconds} s`);
  await timedLoop(options.warmupSeconds, verifyLoop(registryTokens));
  const verifyRegistryToken = await timedLoop(options.durationSeconds, verifyLoop(registryTokens));
  progress(`in-process: ${verifyRegistryToken.perSecond.toFixed(0)} registry token verifications/s`);

  resources.inProcess = undefined;
  await server.close();
  return { mintAccessToken, verifyAccessToken, verifyRegistryToken };
}

// --- the server process ---

function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function expectStatus(response: Response, expected: number, what: string): Promise<void> {
  if (response.status === expected) {
    await response.arrayBuffer();
    return;
  }
  const body = await response.text().catch(() => '<unreadable>');
  throw new Error(`${what}: expected HTTP ${expected}, got ${response.status}: ${body.slice(0, 500)}`);
}

function adminToken(cli: string[], repoRoot: string, dataDir: string, port: number): Promise<string> {
  const argv = [
    ...cli,
    'admin',
    'token',
    '--data-dir',
    dataDir,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--ttl',
    '1h',
  ];
  return mintPalisadeToken(argv, { cwd: repoRoot, env: process.env });
}

/** Config, one layer and an OCI manifest under TAG, pushed with the admin token (pushes need auth). */
async function pushImage(baseUrl: string, bearer: string): Promise<string> {
  const authorization = `Bearer ${bearer}`;
  const layer = randomBytes(1024);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    }),
  );
  for (const blob of [layer, config]) {
    const digest = sha256(blob);
    const response = await fetch(`${baseUrl}/v2/${REPOSITORY}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/octet-stream' },
      body: blob,
    });
    await expectStatus(response, 201, `POST blob ${digest}`);
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: sha256(layer),
          size: layer.length,
        },
      ],
    }),
  );
  const response = await fetch(`${baseUrl}/v2/${REPOSITORY}/manifests/${TAG}`, {
    method: 'PUT',
    headers: { authorization, 'content-type': OCI_MANIFEST },
    body: manifest,
  });
  await expectStatus(response, 201, `PUT manifest ${REPOSITORY}:${TAG}`);
  return sha256(manifest);
}

function tokenUrl(baseUrl: string): string {
  return `${baseUrl}/token?service=palisade&scope=repository:${REPOSITORY}:pull`;
}

function basic(accessToken: string): string {
  return `Basic ${Buffer.from(`palisade:${accessToken}`).toString('base64')}`;
}

async function registryToken(baseUrl: string, accessToken: string): Promise<string> {
  const response = await fetch(tokenUrl(baseUrl), { headers: { authorization: basic(accessToken) } });
  if (response.status !== 200) await expectStatus(response, 200, 'GET /token');
  const body = (await response.json()) as { token?: string };
  if (typeof body.token !== 'string') throw new Error('GET /token: no token in the answer');
  const claims = JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) as {
    access?: { name: string; actions: string[] }[];
  };
  const granted = claims.access?.find((entry) => entry.name === REPOSITORY)?.actions ?? [];
  if (!granted.includes('pull')) throw new Error(`GET /token granted ${JSON.stringify(claims.access)}`);
  return body.token;
}

function manifestUrl(baseUrl: string): string {
  return `${baseUrl}/v2/${REPOSITORY}/manifests/${TAG}`;
}

/** One GET before a load test: the status, and that the body is the manifest that was pushed. */
async function checkManifest(
  baseUrl: string,
  headers: Record<string, string>,
  expected: { status: number; digest?: string },
  what: string,
): Promise<void> {
  const response = await fetch(manifestUrl(baseUrl), { headers });
  if (response.status !== expected.status || expected.digest === undefined) {
    return expectStatus(response, expected.status, what);
  }
  const digest = sha256(new Uint8Array(await response.arrayBuffer()));
  if (digest !== expected.digest) throw new Error(`${what}: not the manifest that was pushed`);
}

interface LoadFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  /** Server CPU time (all threads) per request: the cost whoever is the bottleneck. */
  serverCpuMicrosPerRequest: number;
  /** Server CPU seconds per wall second: ~1 means the (pinned) server was the bottleneck. */
  serverCoresBusy: number;
}

async function load(
  url: string,
  headers: Record<string, string>,
  connections: number,
  seconds: number,
  serverPid: number,
): Promise<LoadFigures> {
  const cpuBefore = processCpuSeconds(serverPid);
  const startedAt = performance.now();
  const result = await autocannon({ url, method: 'GET', connections, duration: seconds, headers });
  const elapsed = (performance.now() - startedAt) / 1000;
  const cpu = processCpuSeconds(serverPid) - cpuBefore;
  return {
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    serverCpuMicrosPerRequest: (cpu * 1e6) / Math.max(result.requests.total, 1),
    serverCoresBusy: cpu / elapsed,
  };
}

function describeLoad(figures: LoadFigures): string {
  const failures = figures.non2xx + figures.errors;
  return (
    `${figures.requestsPerSecond.toFixed(0)} req/s, p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms, ` +
    `server ${figures.serverCpuMicrosPerRequest.toFixed(0)} µs CPU/request, ` +
    `${figures.serverCoresBusy.toFixed(2)} cores busy` +
    (failures ? ` — ${figures.non2xx} non-2xx, ${figures.errors} errors` : '')
  );
}

interface ServerFigures {
  tokenEndpoint: LoadFigures;
  manifestRounds: Record<Variant, LoadFigures>[];
}

async function measureServer(
  options: Options,
  resources: Resources,
  pinned: boolean,
): Promise<ServerFigures> {
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  const cli = splitCommand(options.palisadeCommand);
  if (options.palisadeCommand === DEFAULT_CLI && !existsSync(join(repoRoot, 'dist/src/cli/palisade.js'))) {
    throw new Error('dist/src/cli/palisade.js is missing: run `npm run build` first');
  }
  const dataDir = join(resources.tempRoot!, 'server');
  // The child inherits this environment: the load test measures the endpoint, not its limiter.
  process.env.PALISADE_IDENTITY__TOKEN_RATE_LIMIT_PER_MINUTE = String(TOKEN_RATE_LIMIT);
  progress(`starting Palisade (${options.palisadeCommand}, data in ${dataDir})`);
  const server = await startPalisade({ repoRoot, dataDir, command: options.palisadeCommand });
  resources.server = server;
  if (pinned) pin(server.serverPid, 1);
  progress(`Palisade is up at ${server.baseUrl} (pid ${server.serverPid}${pinned ? ', CPU 1' : ''})`);
  const baseUrl = server.baseUrl;

  const accessToken = await adminToken(cli, repoRoot, dataDir, server.port);
  const digest = await pushImage(baseUrl, accessToken);
  const accept = { accept: OCI_MANIFEST };
  // Until the repository is public an anonymous pull must be refused, or (a) would not be the
  // public-repository path it claims to be.
  await checkManifest(baseUrl, accept, { status: 401 }, 'anonymous GET of a private repository');
  // Through the server's own store, so the benchmark does not depend on an admin API or CLI version.
  const database = openDatabase(join(dataDir, 'palisade.db'));
  try {
    await new IdentityStore(database.db).setPublic(database.db, REPOSITORY, true, Date.now());
  } finally {
    await database.close();
  }
  await checkManifest(baseUrl, accept, { status: 200, digest }, 'anonymous GET of a public repository');

  const tokenHeaders = { authorization: basic(accessToken) };
  await registryToken(baseUrl, accessToken);
  if (options.warmupSeconds > 0) {
    await load(
      tokenUrl(baseUrl),
      tokenHeaders,
      options.tokenConnections,
      options.warmupSeconds,
      server.serverPid,
    );
  }
  progress(`GET /token, ${options.tokenConnections} connections for ${options.durationSeconds} s …`);
  const tokenEndpoint = await load(
    tokenUrl(baseUrl),
    tokenHeaders,
    options.tokenConnections,
    options.durationSeconds,
    server.serverPid,
  );
  progress(`GET /token: ${describeLoad(tokenEndpoint)}`);

  const headersFor = async (variant: Variant): Promise<Record<string, string>> => {
    if (variant === 'anonymous') return accept;
    // Fetched afresh each time: a registry token lives 15 minutes, a long run outlives one.
    const bearer = variant === 'registryToken' ? await registryToken(baseUrl, accessToken) : accessToken;
    return { ...accept, authorization: `Bearer ${bearer}` };
  };
  if (options.warmupSeconds > 0) {
    progress(`manifest GET warm-up, ${options.warmupSeconds} s per variant`);
    for (const variant of VARIANTS) {
      const headers = await headersFor(variant);
      await load(manifestUrl(baseUrl), headers, options.connections, options.warmupSeconds, server.serverPid);
    }
  }
  const manifestRounds: Record<Variant, LoadFigures>[] = [];
  for (let round = 0; round < options.rounds; round++) {
    // Alternating the order keeps drift (JIT, page cache, a noisy neighbour) off any one variant.
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    const figures: Partial<Record<Variant, LoadFigures>> = {};
    for (const variant of order) {
      const headers = await headersFor(variant);
      await checkManifest(baseUrl, headers, { status: 200, digest }, VARIANT_TITLES[variant]);
      const label = `round ${round + 1}/${options.rounds}: manifest GET ${VARIANT_TITLES[variant]}`;
      progress(`${label} …`);
      server.assertAlive();
      figures[variant] = await load(
        manifestUrl(baseUrl),
        headers,
        options.connections,
        options.durationSeconds,
        server.serverPid,
      );
      progress(`${label}: ${describeLoad(figures[variant])}`);
    }
    manifestRounds.push(figures as Record<Variant, LoadFigures>);
  }
  return { tokenEndpoint, manifestRounds };
}

// --- report ---

interface ManifestSummary {
  requestsPerSecond: number;
  p99Ms: number;
  serverCpuMicrosPerRequest: number;
  serverCoresBusy: number;
  failures: number;
  /** This variant's req/s over (a)'s, each a median over the rounds. */
  throughputRatio: number;
  /** (a)'s server CPU per request over this variant's: the ratio if the server were the bottleneck. */
  cpuRatio: number;
  /** (x)/(a) within each round, where both ran back to back. */
  roundRatios: number[];
  met?: boolean;
}

function summarizeManifest(rounds: Record<Variant, LoadFigures>[]): Record<Variant, ManifestSummary> {
  const med = (variant: Variant, pick: (figures: LoadFigures) => number): number =>
    median(rounds.map((round) => pick(round[variant]))) ?? NaN;
  const baseRps = med('anonymous', (f) => f.requestsPerSecond);
  const baseCpu = med('anonymous', (f) => f.serverCpuMicrosPerRequest);
  const summary = {} as Record<Variant, ManifestSummary>;
  for (const variant of VARIANTS) {
    const requestsPerSecond = med(variant, (f) => f.requestsPerSecond);
    const throughputRatio = requestsPerSecond / baseRps;
    summary[variant] = {
      requestsPerSecond,
      p99Ms: med(variant, (f) => f.p99Ms),
      serverCpuMicrosPerRequest: med(variant, (f) => f.serverCpuMicrosPerRequest),
      serverCoresBusy: med(variant, (f) => f.serverCoresBusy),
      failures: rounds.reduce((sum, round) => sum + round[variant].non2xx + round[variant].errors, 0),
      throughputRatio,
      cpuRatio: baseCpu / med(variant, (f) => f.serverCpuMicrosPerRequest),
      roundRatios: rounds.map(
        (round) => round[variant].requestsPerSecond / round.anonymous.requestsPerSecond,
      ),
      ...(variant === 'anonymous' ? {} : { met: throughputRatio >= TARGET_RATIO }),
    };
  }
  return summary;
}

function number(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function tokenTable(inProcess: InProcessFigures, endpoint: LoadFigures, options: Options): string {
  const loopRow = (label: string, unit: string, figures: LoopFigures) =>
    `| ${label} | ${number(figures.perSecond)} ${unit}/s | ${number(figures.microsPerOperation, 1)} µs | — | ` +
    `${number(figures.coresBusy, 2)} (this process) |`;
  const failures = endpoint.non2xx + endpoint.errors;
  return [
    '| measurement | rate | time per token | p99 | CPU cores busy |',
    '| --- | ---: | ---: | ---: | ---: |',
    loopRow('mint access token (ES256), in-process, sequential', 'tokens', inProcess.mintAccessToken),
    loopRow(
      'verify access token (signature + revocation lookup), in-process',
      'verifications',
      inProcess.verifyAccessToken,
    ),
    loopRow('verify registry token (signature), in-process', 'verifications', inProcess.verifyRegistryToken),
    `| registry token from GET /token over HTTP, ${options.tokenConnections} connections | ` +
      `${number(endpoint.requestsPerSecond)} tokens/s${failures ? ` ⚠ ${failures} failed` : ''} | ` +
      `${number(endpoint.serverCpuMicrosPerRequest)} µs server CPU | ${number(endpoint.p99Ms, 1)} ms | ` +
      `${number(endpoint.serverCoresBusy, 2)} (server) |`,
  ].join('\n');
}

function manifestTable(summary: Record<Variant, ManifestSummary>, options: Options): string {
  const lines = [
    `| manifest GET by tag, ${options.connections} connections | req/s | p99 (ms) | server CPU per request | ` +
      'server cores busy | ratio to (a), req/s | ratio to (a), server CPU | target |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const variant of VARIANTS) {
    const row = summary[variant];
    const target = row.met === undefined ? '—' : `≥ ${TARGET_RATIO} — ${row.met ? 'met' : '**missed**'}`;
    lines.push(
      `| ${VARIANT_TITLES[variant]} | ${number(row.requestsPerSecond)}${row.failures ? ` ⚠ ${row.failures} failed` : ''} | ` +
        `${number(row.p99Ms, 1)} | ${number(row.serverCpuMicrosPerRequest)} µs | ${number(row.serverCoresBusy, 2)} | ` +
        `${number(row.throughputRatio, 2)} | ${number(row.cpuRatio, 2)} | ${target} |`,
    );
  }
  return lines.join('\n');
}

async function run(options: Options, resources: Resources): Promise<void> {
  const machine = machineInfo();
  const pinned = options.pin && canPin();
  if (pinned) pin(process.pid, 0);
  progress(pinned ? 'this process pinned to CPU 0, the server will be on CPU 1' : 'not pinning to CPUs');
  resources.tempRoot = await mkdtemp(join(tmpdir(), 'palisade-identity-bench-'));

  const inProcess = await measureInProcess(options, resources);
  const server = await measureServer(options, resources, pinned);
  const manifest = summarizeManifest(server.manifestRounds);

  if (options.json) {
    const report = {
      machine,
      options: { ...options, pinned },
      inProcess,
      tokenEndpoint: server.tokenEndpoint,
      manifest: { rounds: server.manifestRounds, summary: manifest, targetRatio: TARGET_RATIO },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const roundRatios = (variant: Variant) => manifest[variant].roundRatios.map((r) => r.toFixed(2)).join(', ');
  const lines = [
    '',
    `## Identity — ${options.durationSeconds} s per measurement, ${options.rounds} round(s) of manifest GET`,
    '',
    tokenTable(inProcess, server.tokenEndpoint, options),
    '',
    manifestTable(manifest, options),
    '',
    `Manifest figures are medians over the rounds; ratios are of the medians. Per-round req/s ratios: ` +
      `(b)/(a) ${roundRatios('registryToken')}; (c)/(a) ${roundRatios('accessToken')}. Server CPU is ` +
      'user + system time of the server process (all threads) over the requests it served. ' +
      (pinned
        ? 'This process (load generator, in-process loops) ran on CPU 0, the server on CPU 1.'
        : 'Client and server were not pinned and share the machine.'),
    machineLine(machine),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  return runBenchmark(new Resources(), (resources) => run(options, resources), {
    progress,
    explain: (error, resources) => {
      try {
        resources.server?.assertAlive(); // a crash explains itself better than ECONNRESET
        return error;
      } catch (crash) {
        return crash;
      }
    },
  });
}

process.exitCode = await main();
