// Issue #4 (audit log) asks what the hash-chained audit log costs and how fast it can be read back:
// sustained mutations per second with auditing on and off (the target: auditing costs at most 20%),
// chain verification (at least 200,000 events/s), the export rate, and the latency from commit to
// a subscriber's sink at 500 events/s — on SQLite and on PostgreSQL. The servers run inside this
// process (createServer), because the "auditing off" figure needs the benchmark-only switch
// `server.audit.recording`; the HTTP load generator runs in a child process so that it never shares
// the server's event loop. Run `npx tsx bench/audit.bench.ts --help` for the options.
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { JSONWebKeySet } from 'jose';
import type { AuditActor, AuditInput } from '../src/audit/audit-log.js';
import { readExport } from '../src/audit/export.js';
import { verifyExport, type CheckpointRecord } from '../src/audit/verify-export.js';
import { verifyStored } from '../src/audit/verify.js';
import { configSchema, type ConfigInput } from '../src/config/schema.js';
import type { Dialect } from '../src/db/dialect.js';
import { createTestDatabase, type TestDatabase } from '../src/db/test-databases.js';
import { createServer, type PalisadeServer } from '../src/server/server.js';
import { runBenchmark } from './lib/main.js';
import { machineInfo, machineLine, median } from './lib/report.js';

const REPOSITORY = 'bench/app';
const ORG = 'bench';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** Auditing may cost at most 20% of mutation throughput. */
const TARGET_ON_OFF = 0.8;
const TARGET_VERIFY_PER_SECOND = 200_000;
/** Events appended per transaction while filling the verification database. */
const FILL_BATCH = 1000;
const DELIVERY_TYPE = 'dev.palisade.bench.event.created.v1';
/** Recordings the delivery generator lets wait at once (the PostgreSQL pool holds 10 connections). */
const DELIVERY_IN_FLIGHT = 8;
/** Concurrent image pushes of the image-push measurement (Node fetch shares the two cores). */
const PUSH_CONCURRENCY = 8;
/** How long to wait for the last delivery once generation has stopped. */
const DELIVERY_DRAIN_MS = 60_000;
const DIALECT_TITLES: Record<Dialect, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

const USAGE = `Usage: npx tsx bench/audit.bench.ts [options]

Measures the audit log (issue #4) on SQLite, then on PostgreSQL when PALISADE_TEST_DATABASE_URL
(or --database-url) names a server (each run gets a fresh schema there, dropped afterwards):
  1. mutations/s with auditing on vs off: autocannon (in a child process) PUTs image manifests
     under a new tag per request (${REPOSITORY}:t<id>; each PUT records two events, manifest pushed
     and tag updated), one pushed image per connection so that concurrent PUTs share no row but
     the audit head, against a server in this process with server.audit.recording true or false —
     a fresh database and server per variant and round, the order alternating per round; the
     on/off ratio of the medians against the target ≥ ${TARGET_ON_OFF}. audit.recordPulls stays at its
     default (on); no GET runs during the load;
  1b. image pushes with auditing switched on and off on one server (as the interleaved part of
     1 does for the PUT): ${PUSH_CONCURRENCY} loops in a child process push images — a random 1 KiB layer and a
     config by monolithic POST, then an OCI manifest under a new tag: three requests and four
     events per image — and images/s per window pair give the on/off ratio;
  2. chain verification: --events realistic registry events are appended (recordMany, ${FILL_BATCH}
     per transaction, a signed checkpoint every ${FILL_BATCH} as the server's defaults would write),
     then verifyStored() is timed (the server-side check, reading the database), and so is the
     verification of their export as \`palisade audit verify\` does it, online or with --export
     (the NDJSON bytes line by line, each stored event hashed as it stands, the chain, the signed
     checkpoints against the JWKS); both against the target ≥ ${TARGET_VERIFY_PER_SECOND.toLocaleString('en-US')} events/s;
  3. export: GET /api/v1/events/export of those events over HTTP with curl into a file (events/s,
     MB/s); that file is what step 2's offline verification reads;
  4. delivery: a subscription for org "${ORG}" to a loopback HTTP sink in this process; events are
     recorded with recordAlone() (which group-commits events that arrive together), paced at
     --delivery-rate for --delivery-seconds with at most ${DELIVERY_IN_FLIGHT} waiting at once (a database that
     cannot record that fast shows as a lower achieved rate); latency is the sink's receive time minus the event's ce-time
     (stamped by AuditLog when the event is recorded, before the head lock, insert and commit of
     the transaction that appends it); p50/p99/max, and every event must arrive, in order.

Options:
  --rounds N              rounds of the mutation and delivery measurements; medians are
                          reported (default 3)
  --duration S            seconds of load per mutation measurement (default 5)
  --warmup S              unmeasured seconds of load before each mutation measurement (default 1)
  --connections N         autocannon connections for the mutation load (default 16)
  --windows N             windows of the interleaved measurement, auditing on and off in turn
                          (default 20, rounded up to an even number)
  --window S              seconds per interleaved window (default 2)
  --events N              events in the verification/export database (default 200000)
  --verify-rounds N       passes of verification and export over them (default 1: a pass over
                          200,000 events takes several seconds per figure; medians when more)
  --delivery-rate N       events per second generated for the delivery measurement (default 500)
  --delivery-seconds S    seconds of generation per delivery round (default 10)
  --database-url URL      PostgreSQL server to use (default $PALISADE_TEST_DATABASE_URL)
  --skip-postgres         SQLite only
  --only LIST             comma-separated subset of mutations,interleaved,pushes,verify,delivery
                          (default all)
  --json                  print the raw figures as JSON instead of the tables
  -h, --help              show this help

Progress goes to stderr.`;

const PARTS = ['mutations', 'interleaved', 'pushes', 'verify', 'delivery'] as const;
type Part = (typeof PARTS)[number];

interface Options {
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  /** Windows of the interleaved measurement (an even number: they pair up). */
  windows: number;
  windowSeconds: number;
  events: number;
  verifyRounds: number;
  deliveryRate: number;
  deliverySeconds: number;
  databaseUrl: string | undefined;
  skipPostgres: boolean;
  parts: Set<Part>;
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
        rounds: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string' },
        windows: { type: 'string' },
        window: { type: 'string' },
        events: { type: 'string' },
        'verify-rounds': { type: 'string' },
        'delivery-rate': { type: 'string' },
        'delivery-seconds': { type: 'string' },
        'database-url': { type: 'string' },
        'skip-postgres': { type: 'boolean', default: false },
        only: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return 'help';
  const parts = new Set<Part>();
  for (const part of (values.only ?? PARTS.join(',')).split(',')) {
    if (!(PARTS as readonly string[]).includes(part)) {
      throw new UsageError(`--only takes ${PARTS.join(', ')}; got "${part}"`);
    }
    parts.add(part as Part);
  }
  const databaseUrl = values['database-url'] ?? process.env.PALISADE_TEST_DATABASE_URL;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new UsageError('--database-url must be a postgres:// URL');
  }
  return {
    rounds: integerOption('rounds', values.rounds, 3),
    durationSeconds: integerOption('duration', values.duration, 5),
    warmupSeconds: integerOption('warmup', values.warmup, 1, 0),
    connections: integerOption('connections', values.connections, 16),
    windows: 2 * Math.ceil(integerOption('windows', values.windows, 20, 2) / 2),
    windowSeconds: integerOption('window', values.window, 2),
    events: integerOption('events', values.events, 200_000),
    verifyRounds: integerOption('verify-rounds', values['verify-rounds'], 1),
    deliveryRate: integerOption('delivery-rate', values['delivery-rate'], 500),
    deliverySeconds: integerOption('delivery-seconds', values['delivery-seconds'], 10),
    databaseUrl: databaseUrl || undefined,
    skipPostgres: values['skip-postgres'],
    parts,
    json: values.json,
  };
}

function progress(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

// --- servers, databases and what must be undone ---

interface BenchServer {
  server: PalisadeServer;
  database: TestDatabase;
  baseUrl: string;
  /** An admin access token (break-glass), for /v2 and the API. */
  token: string;
}

/** Everything that must be undone on the way out, whatever the way out is. */
class Resources {
  readonly servers = new Set<BenchServer>();
  readonly httpServers = new Set<Server>();
  readonly children = new Set<ReturnType<typeof spawn>>();
  tempRoot: string | undefined;
  interrupted: NodeJS.Signals | undefined;
  private cleaning: Promise<void> | undefined;

  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      for (const child of this.children) child.kill('SIGKILL');
      for (const server of this.servers) await stopServer(this, server);
      for (const http of this.httpServers) await closeHttp(this, http);
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
    for (const child of this.children) child.kill('SIGKILL');
  }
}

async function startServer(
  resources: Resources,
  dialect: Dialect,
  label: string,
  overrides: Partial<ConfigInput> = {},
): Promise<BenchServer> {
  const database = await createTestDatabase(dialect);
  const dataDir = await mkdtemp(join(resources.tempRoot!, `${dialect}-${label}-`));
  let server: PalisadeServer;
  try {
    server = await createServer(
      configSchema.parse({
        dataDir,
        databaseUrl: database.url,
        port: 0,
        host: '127.0.0.1',
        logLevel: 'silent',
        dev: true,
        registry: { gc: { enabled: false } },
        // Image analyses would add their own events (and SBOM pushes) during the measured load.
        scanning: { enabled: false },
        ...overrides,
      }),
    );
  } catch (error) {
    await database.dispose();
    throw error;
  }
  const bench: BenchServer = { server, database, baseUrl: '', token: '' };
  resources.servers.add(bench);
  bench.baseUrl = (await server.listen()).replace('localhost', '127.0.0.1');
  bench.token = (await server.identity.breakGlassToken(3600)).token;
  return bench;
}

async function stopServer(resources: Resources, bench: BenchServer): Promise<void> {
  if (!resources.servers.delete(bench)) return;
  await bench.server.close().catch(() => undefined);
  await bench.database.dispose().catch(() => undefined);
}

function closeHttp(resources: Resources, server: Server): Promise<void> {
  if (!resources.httpServers.delete(server)) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function expectStatus(response: Response, expected: number, what: string): Promise<void> {
  if (response.status === expected) {
    await response.arrayBuffer();
    return;
  }
  const body = await response.text().catch(() => '<unreadable>');
  throw new Error(`${what}: expected HTTP ${expected}, got ${response.status}: ${body.slice(0, 500)}`);
}

async function headSeq(bench: BenchServer): Promise<number> {
  return (await bench.server.audit.store.head(bench.server.database.db)).seq;
}

/**
 * Waits until requests still in flight when the load generator stopped counting have committed
 * (the head has not moved for 200 ms), so events can be counted and the chain verified.
 */
async function settle(bench: BenchServer): Promise<void> {
  for (let previous = -1, seq = await headSeq(bench); seq !== previous; seq = await headSeq(bench)) {
    previous = seq;
    await sleep(200);
  }
}

// --- 1. mutations/s with auditing on and off ---

function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A config, one random 1 KiB layer and an OCI manifest under `tag`; returns the manifest's bytes. */
async function pushImage(bench: BenchServer, tag: string): Promise<Buffer> {
  const authorization = `Bearer ${bench.token}`;
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
    const response = await fetch(`${bench.baseUrl}/v2/${REPOSITORY}/blobs/uploads/?digest=${digest}`, {
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
  const response = await fetch(`${bench.baseUrl}/v2/${REPOSITORY}/manifests/${tag}`, {
    method: 'PUT',
    headers: { authorization, 'content-type': OCI_MANIFEST },
    body: manifest,
  });
  await expectStatus(response, 201, `PUT manifest ${REPOSITORY}:${tag}`);
  return manifest;
}

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon');
/**
 * The load generator's process: reads autocannon's options as JSON on stdin (so the bearer token
 * never appears in a process list) and prints the result as JSON. \`bodies\`, when given, are
 * handed out one per connection.
 */
const AUTOCANNON_RUNNER = `
const autocannon = require(${JSON.stringify(AUTOCANNON)});
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const { bodies, ...options } = JSON.parse(input);
  let next = 0;
  if (bodies) options.setupClient = (client) => client.setRequests([{ body: bodies[next++ % bodies.length] }]);
  autocannon(options, (error, result) => {
    if (error) {
      process.stderr.write(String((error && error.stack) || error));
      process.exit(1);
    }
    process.stdout.write(JSON.stringify(result));
  });
});`;

interface AutocannonResult {
  duration: number;
  requests: { total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats?: Record<string, { count: number }>;
}

/**
 * Runs a load generator's program in a process of its own, its input as JSON on stdin (tokens stay
 * out of process lists), and parses the JSON it prints.
 */
function runScript<T>(resources: Resources, source: string, input: unknown, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', source], { stdio: ['pipe', 'pipe', 'pipe'] });
    resources.children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      resources.children.delete(child);
      try {
        if (code !== 0) throw new Error(`exited with ${code}`);
        resolve(JSON.parse(stdout) as T);
      } catch (error) {
        reject(new Error(`${what} failed (${String(error)}): ${stderr.slice(-1000)}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

function runAutocannon(resources: Resources, options: Record<string, unknown>): Promise<AutocannonResult> {
  return runScript<AutocannonResult>(resources, AUTOCANNON_RUNNER, options, 'autocannon');
}

interface MutationFigures {
  recording: boolean;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  failures: number;
  /** CPU time of this process (the server; the load generator is another process) per request. */
  serverCpuMicrosPerRequest: number;
  /** This process's CPU seconds per wall second. */
  serverCoresBusy: number;
  /**
   * Share of the time the server's event loop was not waiting for I/O (busy running JavaScript or
   * blocked in a synchronous call such as SQLite's); near 1 means the server was the bottleneck.
   */
  serverLoopBusy: number;
  /** Audit events written during the load (requests still in flight at the end add a few). */
  events: number;
  /** Audit events written per successful request (2 with auditing on, 0 off). */
  eventsPerRequest: number;
}

async function mutationLoad(
  resources: Resources,
  bench: BenchServer,
  manifests: Buffer[],
  connections: number,
  seconds: number,
): Promise<MutationFigures> {
  const seqBefore = await headSeq(bench);
  const cpuBefore = process.cpuUsage();
  const loopBefore = performance.eventLoopUtilization();
  const startedAt = performance.now();
  const result = await runAutocannon(resources, {
    // A new tag per request: [<id>] becomes a fresh id (letters, digits, _ and -) each time.
    url: `${bench.baseUrl}/v2/${REPOSITORY}/manifests/t[<id>]`,
    method: 'PUT',
    idReplacement: true,
    headers: { authorization: `Bearer ${bench.token}`, 'content-type': OCI_MANIFEST },
    // One image per connection: concurrent PUTs then share no registry rows (every PUT refreshes
    // its blobs' GC clock), only the audit log's head.
    bodies: manifests.map((manifest) => manifest.toString('utf8')),
    connections,
    duration: seconds,
  });
  const elapsed = (performance.now() - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const loop = performance.eventLoopUtilization(loopBefore);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const ok = result.requests.total - result.non2xx;
  await settle(bench);
  const events = (await headSeq(bench)) - seqBefore;
  return {
    recording: bench.server.audit.recording,
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    failures: result.non2xx + result.errors + result.timeouts,
    serverCpuMicrosPerRequest: (cpuSeconds * 1e6) / Math.max(result.requests.total, 1),
    serverCoresBusy: cpuSeconds / elapsed,
    serverLoopBusy: loop.utilization,
    events,
    eventsPerRequest: events / Math.max(ok, 1),
  };
}

function describeMutation(figures: MutationFigures): string {
  return (
    `${figures.requestsPerSecond.toFixed(0)} PUT/s, p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms, ` +
    `server ${figures.serverCpuMicrosPerRequest.toFixed(0)} µs CPU/request, ` +
    `${figures.serverCoresBusy.toFixed(2)} cores busy, event loop ${(figures.serverLoopBusy * 100).toFixed(0)}% busy, ` +
    `${figures.eventsPerRequest.toFixed(2)} events/request` +
    (figures.failures ? ` — ${figures.failures} failed` : '')
  );
}

interface MutationRound {
  on: MutationFigures;
  off: MutationFigures;
}

interface InterleavedFigures {
  /** PUTs answered 2xx per second, per window, in order; windows alternate on, off, on, … */
  windows: { recording: boolean; requestsPerSecond: number; cpuMicrosPerRequest: number }[];
  /** on/off of each adjacent pair of windows (on then off, or off then on). */
  pairRatios: number[];
  ratio: number;
}

/**
 * The on/off ratio measured on one server under one uninterrupted load: auditing is switched on
 * and off every --window seconds, and the PUTs each window answered are counted at the server.
 * Separate servers per variant (measureMutations) compare two databases and two stretches of
 * time; on this VM the "off" figure alone moves by ±15% between them. Here both variants share
 * the database, the warmed-up process and the client, and neighbouring windows share the
 * machine's mood, so the drift cancels out pair by pair.
 */
async function measureInterleaved(
  options: Options,
  resources: Resources,
  dialect: Dialect,
): Promise<InterleavedFigures> {
  const label = `${DIALECT_TITLES[dialect]}: manifest PUT, auditing switched every ${options.windowSeconds} s`;
  const bench = await startServer(resources, dialect, 'interleaved');
  try {
    const manifests: Buffer[] = [];
    for (let i = 0; i < options.connections; i++) manifests.push(await pushImage(bench, `v${i}`));
    const http = bench.server.app.server;
    let answered = 0;
    const count = (_request: unknown, response: ServerResponse) =>
      response.once('finish', () => {
        if (response.statusCode === 201) answered += 1;
      });
    http.on('request', count);
    const total = options.warmupSeconds + options.windows * options.windowSeconds;
    progress(`${label}, ${options.windows} windows after ${options.warmupSeconds} s of warm-up …`);
    const load = mutationLoad(resources, bench, manifests, options.connections, total + 1);
    let switched: Switched;
    try {
      switched = await switchAuditing(bench, options, () => answered);
    } finally {
      await load;
      http.off('request', count);
    }
    return await concludeSwitching(bench, label, switched);
  } finally {
    await stopServer(resources, bench);
  }
}

/** What a switching measurement counted: its windows, and on/off per adjacent pair. */
type Switched = Pick<InterleavedFigures, 'windows' | 'pairRatios'>;

/** The ratio of a switching measurement, reported, once the chain it wrote is checked. */
async function concludeSwitching(
  bench: BenchServer,
  label: string,
  { windows, pairRatios }: Switched,
): Promise<InterleavedFigures> {
  const figures = { windows, pairRatios, ratio: median(pairRatios) ?? 0 };
  progress(
    `${label}: on/off per pair ${pairRatios.map((r) => r.toFixed(2)).join(', ')}; median ${figures.ratio.toFixed(2)}`,
  );
  await settle(bench);
  const check = await verifyStored(bench.server.audit.store);
  if (!check.ok) throw new Error(`${label}: the chain does not verify: ${JSON.stringify(check.firstBad)}`);
  return figures;
}

/**
 * Switches auditing on and off every --window seconds after --warmup seconds, counting what
 * `answered()` counts per window; pairs alternate which goes first (on/off, off/on, …), so a
 * trend favours neither. Leaves auditing on.
 */
async function switchAuditing(
  bench: BenchServer,
  options: Options,
  answered: () => number,
): Promise<Switched> {
  const windows: InterleavedFigures['windows'] = [];
  try {
    bench.server.audit.recording = true;
    await sleep(options.warmupSeconds * 1000);
    for (let i = 0; i < options.windows; i++) {
      const recording = Math.floor(i / 2) % 2 === 0 ? i % 2 === 0 : i % 2 === 1;
      bench.server.audit.recording = recording;
      const before = answered();
      const cpuBefore = process.cpuUsage();
      const startedAt = performance.now();
      await sleep(options.windowSeconds * 1000);
      const seconds = (performance.now() - startedAt) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      const requests = answered() - before;
      windows.push({
        recording,
        requestsPerSecond: requests / seconds,
        cpuMicrosPerRequest: (cpu.user + cpu.system) / Math.max(requests, 1),
      });
    }
  } finally {
    bench.server.audit.recording = true;
  }
  const pairRatios: number[] = [];
  for (let i = 0; i + 1 < windows.length; i += 2) {
    const [a, b] = [windows[i]!, windows[i + 1]!];
    const on = a.recording ? a : b;
    const off = a.recording ? b : a;
    pairRatios.push(on.requestsPerSecond / off.requestsPerSecond);
  }
  return { windows, pairRatios };
}

/**
 * The load generator of the image-push measurement, in a process of its own: reads its options as
 * JSON on stdin (the token stays out of process lists), pushes images — a random 1 KiB layer and
 * a config (monolithic POSTs) and an OCI manifest under a new tag — from \`concurrency\` loops
 * until \`seconds\` have passed, and prints {images, failures} as JSON.
 */
const PUSH_RUNNER = `
const { createHash, randomBytes } = require('node:crypto');
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', async () => {
  const { baseUrl, token, repository, concurrency, seconds, tagPrefix } = JSON.parse(input);
  const authorization = 'Bearer ' + token;
  const sha256 = (data) => 'sha256:' + createHash('sha256').update(data).digest('hex');
  const expect = async (response, status, what) => {
    const body = await response.text();
    if (response.status !== status) throw new Error(what + ': HTTP ' + response.status + ' ' + body.slice(0, 300));
  };
  const pushBlob = async (data) => {
    const digest = sha256(data);
    const response = await fetch(baseUrl + '/v2/' + repository + '/blobs/uploads/?digest=' + digest, {
      method: 'POST', headers: { authorization, 'content-type': 'application/octet-stream' }, body: data,
    });
    await expect(response, 201, 'POST blob');
    return { digest, size: data.length };
  };
  const deadline = performance.now() + seconds * 1000;
  let next = 0, images = 0, failures = 0, firstError;
  const loop = async () => {
    while (performance.now() < deadline) {
      const tag = tagPrefix + next++;
      try {
        const layer = await pushBlob(randomBytes(1024));
        const config = await pushBlob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux',
          rootfs: { type: 'layers', diff_ids: [layer.digest] } })));
        const manifest = JSON.stringify({ schemaVersion: 2, mediaType: '${OCI_MANIFEST}',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }] });
        const response = await fetch(baseUrl + '/v2/' + repository + '/manifests/' + tag, {
          method: 'PUT', headers: { authorization, 'content-type': '${OCI_MANIFEST}' }, body: manifest,
        });
        await expect(response, 201, 'PUT manifest');
        images += 1;
      } catch (error) {
        failures += 1;
        firstError ??= String(error && error.message || error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  process.stdout.write(JSON.stringify({ images, failures, firstError }));
});`;

function runPushes(
  resources: Resources,
  input: Record<string, unknown>,
): Promise<{ images: number; failures: number; firstError?: string }> {
  return runScript(resources, PUSH_RUNNER, input, 'the image pusher');
}

/** What the image-push measurement found. */
interface PushFigures extends InterleavedFigures {
  /** Audit events per image pushed while auditing was on. */
  eventsPerImage: number;
}

/**
 * A registry's everyday mutations, image pushes (two blobs and a manifest with its tag: three
 * requests, four events), with auditing switched on and off on one server as in
 * measureInterleaved. The manifest PUT alone (parts 1 and 1b) is the worst case for auditing's
 * share: it does the least work per event.
 */
async function measurePushes(options: Options, resources: Resources, dialect: Dialect): Promise<PushFigures> {
  const label = `${DIALECT_TITLES[dialect]}: image pushes, auditing switched every ${options.windowSeconds} s`;
  const bench = await startServer(resources, dialect, 'pushes');
  try {
    // One image first, to count what a push records.
    const seqBefore = await headSeq(bench);
    await pushImage(bench, 'calibration');
    await settle(bench);
    const eventsPerImage = (await headSeq(bench)) - seqBefore;
    const http = bench.server.app.server;
    let images = 0;
    const count = (request: IncomingMessage, response: ServerResponse) => {
      if (request.method !== 'PUT' || !request.url?.includes('/manifests/')) return;
      response.once('finish', () => {
        if (response.statusCode === 201) images += 1;
      });
    };
    http.on('request', count);
    const total = options.warmupSeconds + options.windows * options.windowSeconds;
    progress(
      `${label}, ${PUSH_CONCURRENCY} pushing at once, ${options.windows} windows after ${options.warmupSeconds} s of warm-up …`,
    );
    const load = runPushes(resources, {
      baseUrl: bench.baseUrl,
      token: bench.token,
      repository: REPOSITORY,
      concurrency: PUSH_CONCURRENCY,
      seconds: total + 1,
      tagPrefix: 'p',
    });
    let switched: Switched;
    try {
      switched = await switchAuditing(bench, options, () => images);
    } finally {
      await load.catch(() => undefined);
      http.off('request', count);
    }
    const pushed = await load;
    if (pushed.failures > 0) {
      throw new Error(`${label}: ${pushed.failures} pushes failed, the first: ${pushed.firstError}`);
    }
    return { ...(await concludeSwitching(bench, label, switched)), eventsPerImage };
  } finally {
    await stopServer(resources, bench);
  }
}

async function measureMutations(
  options: Options,
  resources: Resources,
  dialect: Dialect,
): Promise<MutationRound[]> {
  const rounds: MutationRound[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
    const figures: Partial<MutationRound> = {};
    for (const variant of order) {
      const label = `${DIALECT_TITLES[dialect]} round ${round + 1}/${options.rounds}: manifest PUT, auditing ${variant}`;
      // A fresh database per variant: neither inherits the other's tags or events.
      const bench = await startServer(resources, dialect, `mutations-${variant}`);
      try {
        bench.server.audit.recording = variant === 'on';
        const manifests: Buffer[] = [];
        for (let i = 0; i < options.connections; i++) manifests.push(await pushImage(bench, `v${i}`));
        if (options.warmupSeconds > 0) {
          await mutationLoad(resources, bench, manifests, options.connections, options.warmupSeconds);
        }
        progress(`${label}, ${options.connections} connections for ${options.durationSeconds} s …`);
        const measured = await mutationLoad(
          resources,
          bench,
          manifests,
          options.connections,
          options.durationSeconds,
        );
        progress(`${label}: ${describeMutation(measured)}`);
        if (measured.failures > 0) throw new Error(`${label}: ${measured.failures} requests failed`);
        // Two events per PUT with auditing on (requests still in flight when autocannon stopped
        // counting add a few), none with it off.
        const { requests: ok, events } = measured;
        const plausible =
          variant === 'on' ? events >= 2 * ok && events <= 2 * (ok + options.connections) : events === 0;
        if (!plausible) throw new Error(`${label}: ${events} events for ${ok} requests`);
        if (variant === 'on') {
          const check = await verifyStored(bench.server.audit.store);
          if (!check.ok)
            throw new Error(`${label}: the chain does not verify: ${JSON.stringify(check.firstBad)}`);
        }
        figures[variant] = measured;
      } finally {
        await stopServer(resources, bench);
      }
    }
    rounds.push(figures as MutationRound);
  }
  return rounds;
}

// --- 2 and 3. chain verification and export ---

/** A pool of plausible values, so events differ the way real ones do without costing much to make. */
function eventFactory(): (index: number) => AuditInput {
  const hex = () => randomBytes(32).toString('hex');
  const digests = Array.from({ length: 256 }, () => `sha256:${hex()}`);
  const orgs = ['acme', 'bench', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne'];
  const actors: AuditActor[] = Array.from({ length: 32 }, (_, i) => ({
    subject: `user:${randomUUID()}`,
    kind: i % 8 === 7 ? 'workload' : 'user',
    act: {
      iss: i % 2 ? 'https://login.example.com/realms/corp' : 'https://token.actions.githubusercontent.com',
      sub:
        i % 2
          ? `f:7d2f4c1e-4a55-4f0b-9d3b-2c8f3f0e${String(i).padStart(4, '0')}:user${i}`
          : `repo:acme/app${i}:ref:refs/heads/main`,
      aud: 'palisade',
      amr: ['pwd', 'otp'],
      client_id: 'palisade-cli',
    },
  }));
  const agents = [
    'containerd/v1.7.24',
    'docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.8.0 os/linux arch/amd64',
    'skopeo/1.16.1',
    'oras/1.2.0',
  ];
  return (index) => {
    const org = orgs[index % orgs.length]!;
    const repository = `${org}/service-${index % 50}`;
    const digest = digests[index % digests.length]!;
    const request = {
      id: randomUUID(),
      ip: `10.20.${(index >> 8) & 255}.${index & 255}`,
      user_agent: agents[index % agents.length]!,
    };
    const common = { org, actor: actors[index % actors.length]!, request };
    switch (index % 4) {
      case 0:
        return {
          ...common,
          type: 'dev.palisade.registry.blob.pushed.v1',
          subject: `${repository}@${digest}`,
          path: `/v2/${repository}/blobs/uploads/${randomUUID()}`,
          body: { repository, digest, size: 1000 + ((index * 7919) % 50_000_000) },
        };
      case 1:
        return {
          ...common,
          type: 'dev.palisade.registry.manifest.pushed.v1',
          subject: `${repository}@${digest}`,
          path: `/v2/${repository}/manifests/v${index % 100}`,
          body: {
            repository,
            digest,
            media_type: OCI_MANIFEST,
            artifact_type: null,
            subject: null,
            size: 500 + (index % 3000),
            tags: [`v${index % 100}`],
          },
        };
      case 2:
        return {
          ...common,
          type: 'dev.palisade.registry.tag.updated.v1',
          subject: `${repository}:v${index % 100}`,
          path: `/v2/${repository}/manifests/v${index % 100}`,
          body: {
            repository,
            tag: `v${index % 100}`,
            before: digests[(index + 1) % digests.length]!,
            after: digest,
          },
        };
      default:
        return {
          ...common,
          type: 'dev.palisade.registry.manifest.pulled.v1',
          subject: `${repository}@${digest}`,
          path: `/v2/${repository}/manifests/v${index % 100}`,
          time: Date.now(),
          body: { repository, digest, reference: `v${index % 100}` },
        };
    }
  };
}

interface FillFigures {
  events: number;
  seconds: number;
  perSecond: number;
  /** Mean size of a stored event (the CloudEvent's JSON text). */
  meanEventBytes: number;
  checkpoints: number;
}

/** Appends `count` events, FILL_BATCH per transaction, with a checkpoint after each batch. */
async function fill(bench: BenchServer, count: number): Promise<FillFigures> {
  const { server } = bench;
  const make = eventFactory();
  let checkpoints = 0;
  let bytes = 0;
  const startedAt = performance.now();
  let lastReport = startedAt;
  for (let done = 0; done < count;) {
    const batch = Array.from({ length: Math.min(FILL_BATCH, count - done) }, (_, i) => make(done + i));
    await server.database.db.transaction().execute((trx) => server.audit.recordMany(trx, batch));
    // On PostgreSQL the batch waits in the outbox until chained: as a request would, wait for it.
    await server.audit.settle();
    done += batch.length;
    // What the server's checkpoint timer would have written with the default policy (every 1,000).
    if ((await server.checkpointer.maybeCheckpoint()) !== undefined) checkpoints += 1;
    if (performance.now() - lastReport > 5000) {
      lastReport = performance.now();
      progress(`  ${done.toLocaleString('en-US')} events appended`);
    }
  }
  const seconds = (performance.now() - startedAt) / 1000;
  const sample = await server.audit.store.list(server.database.db, {}, 2000);
  for (const row of sample) bytes += Buffer.byteLength(row.event);
  return {
    events: count,
    seconds,
    perSecond: count / seconds,
    meanEventBytes: bytes / sample.length,
    checkpoints,
  };
}

interface ExportFigures {
  events: number;
  bytes: number;
  seconds: number;
  eventsPerSecond: number;
  megabytesPerSecond: number;
}

/**
 * Downloads the whole log's NDJSON export into `file` with curl: another process, so the client
 * never shares the server's event loop (the token goes to curl on stdin, not in its argv).
 */
async function exportLog(resources: Resources, bench: BenchServer, file: string): Promise<ExportFigures> {
  const url = `${bench.baseUrl}/api/v1/events/export?format=ndjson`;
  const startedAt = performance.now();
  const written = await new Promise<string>((resolve, reject) => {
    const child = spawn('curl', ['-sS', '-o', file, '-w', '%{http_code} %{size_download}', '-H', '@-', url], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    resources.children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdin.on('error', () => undefined); // curl's exit status says more than an EPIPE
    child.on('error', reject);
    child.on('close', (code) => {
      resources.children.delete(child);
      if (code === 0) resolve(stdout);
      else reject(new Error(`curl GET /api/v1/events/export exited ${code}: ${stderr.trim()}`));
    });
    child.stdin.end(`Authorization: Bearer ${bench.token}\n`);
  });
  const seconds = (performance.now() - startedAt) / 1000;
  const [status, size] = written.split(' ');
  if (status !== '200') throw new Error(`GET /api/v1/events/export answered HTTP ${status}`);
  const bytes = Number(size);
  const content = await readFile(file);
  let lines = 0;
  for (let at = content.indexOf(10); at !== -1; at = content.indexOf(10, at + 1)) lines += 1;
  return {
    events: lines,
    bytes,
    seconds,
    eventsPerSecond: lines / seconds,
    megabytesPerSecond: bytes / 1e6 / seconds,
  };
}

interface VerifyFigures {
  events: number;
  seconds: number;
  perSecond: number;
}

/**
 * What `palisade audit verify --export` does once it has the file: split the NDJSON into lines,
 * parse each back into a chain row, verify the chain and every signed checkpoint in range.
 */
async function verifyOffline(
  exported: Buffer,
  sidecar: {
    checkpoints: CheckpointRecord[];
    anchor: CheckpointRecord | null;
    jwks: JSONWebKeySet;
    issuer: string;
  },
): Promise<VerifyFigures & { checkpointsVerified: number }> {
  const startedAt = performance.now();
  // As `palisade audit verify` reads it: the bytes, line by line (as one string, a 200 MB export
  // would be close to V8's limit), hashed as they are.
  const { rows, mismatched } = readExport(exported);
  const result = await verifyExport(
    rows,
    sidecar.checkpoints,
    sidecar.jwks,
    sidecar.issuer,
    sidecar.anchor,
    mismatched,
  );
  const seconds = (performance.now() - startedAt) / 1000;
  if (!result.ok) throw new Error(`offline verification failed: ${JSON.stringify(result.firstBad)}`);
  if (result.checked !== rows.length)
    throw new Error(`offline verification checked ${result.checked} of ${rows.length}`);
  return {
    events: result.checked,
    seconds,
    perSecond: result.checked / seconds,
    checkpointsVerified: result.checkpointsVerified,
  };
}

async function getJson<T>(bench: BenchServer, path: string): Promise<T> {
  const response = await fetch(`${bench.baseUrl}${path}`, {
    headers: { authorization: `Bearer ${bench.token}` },
  });
  if (response.status !== 200) await expectStatus(response, 200, `GET ${path}`);
  return (await response.json()) as T;
}

interface VerifyRound {
  stored: VerifyFigures;
  export: ExportFigures;
  offline: VerifyFigures & { checkpointsVerified: number };
}

interface VerifyResults {
  fill: FillFigures;
  rounds: VerifyRound[];
}

async function measureVerify(
  options: Options,
  resources: Resources,
  dialect: Dialect,
): Promise<VerifyResults> {
  const bench = await startServer(resources, dialect, 'verify');
  try {
    const title = DIALECT_TITLES[dialect];
    progress(
      `${title}: appending ${options.events.toLocaleString('en-US')} events (${FILL_BATCH} per transaction) …`,
    );
    const filled = await fill(bench, options.events);
    progress(
      `${title}: appended ${filled.events.toLocaleString('en-US')} events in ${filled.seconds.toFixed(1)} s ` +
        `(${filled.perSecond.toFixed(0)}/s, ${filled.meanEventBytes.toFixed(0)} bytes each, ${filled.checkpoints} checkpoints)`,
    );
    const { issuer } = await getJson<{ issuer: string }>(bench, '/.well-known/openid-configuration');
    const jwks = await getJson<JSONWebKeySet>(bench, '/.well-known/jwks.json');
    const rounds: VerifyRound[] = [];
    for (let round = 0; round < options.verifyRounds; round++) {
      const label = `${title} pass ${round + 1}/${options.verifyRounds}`;
      const head = await headSeq(bench);
      const startedAt = performance.now();
      const result = await verifyStored(bench.server.audit.store);
      let seconds = (performance.now() - startedAt) / 1000;
      if (!result.ok || result.checked !== head) {
        throw new Error(`${label}: verifyStored: ${JSON.stringify({ ...result, head })}`);
      }
      const stored = { events: result.checked, seconds, perSecond: result.checked / seconds };
      progress(
        `${label}: verifyStored ${stored.events} events in ${seconds.toFixed(2)} s, ${stored.perSecond.toFixed(0)} events/s`,
      );

      const file = join(resources.tempRoot!, `export-${dialect}.ndjson`);
      const exported = await exportLog(resources, bench, file);
      seconds = exported.seconds;
      // The export records itself first, so it holds one event more than the head above.
      if (exported.events !== head + 1)
        throw new Error(`${label}: export held ${exported.events} events, expected ${head + 1}`);
      progress(
        `${label}: export ${exported.events} events, ${(exported.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s ` +
          `(${exported.eventsPerSecond.toFixed(0)} events/s, ${exported.megabytesPerSecond.toFixed(1)} MB/s)`,
      );
      const published = await getJson<{ checkpoints: CheckpointRecord[]; anchor: CheckpointRecord | null }>(
        bench,
        '/api/v1/audit/checkpoints?limit=10000',
      );
      const offline = await verifyOffline(await readFile(file), { ...published, jwks, issuer });
      await rm(file, { force: true });
      progress(
        `${label}: offline verification of the export, ${offline.events} events and ${offline.checkpointsVerified} ` +
          `checkpoints in ${offline.seconds.toFixed(2)} s, ${offline.perSecond.toFixed(0)} events/s`,
      );
      rounds.push({ stored, export: exported, offline });
    }
    return { fill: filled, rounds };
  } finally {
    await stopServer(resources, bench);
  }
}

// --- 4. delivery latency ---

interface Receipt {
  id: string;
  type: string;
  seq: number;
  eventTime: number;
  receivedAt: number;
}

async function startSink(
  resources: Resources,
  receipts: Receipt[],
): Promise<{ url: string; server: Server }> {
  const server = createHttpServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const receivedAt = Date.now();
      const header = (name: string) => {
        const value = request.headers[name];
        return typeof value === 'string' ? value : '';
      };
      receipts.push({
        id: header('ce-id'),
        type: header('ce-type'),
        seq: Number(header('ce-auditseq')),
        eventTime: Date.parse(header('ce-time')),
        receivedAt,
      });
      response.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 10_000;
  resources.httpServers.add(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/palisade`, server };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface DeliveryFigures {
  generated: number;
  /** Distinct events the sink received (must equal generated). */
  delivered: number;
  /** Receipts beyond the first of an event (at-least-once may resend). */
  duplicates: number;
  /** Events/s the generator actually achieved. */
  achievedRate: number;
  /** Event-loop utilization of this process (server, deliverer, sink, generator) while generating. */
  loopBusy: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** From the last event generated to the sink having all of them. */
  drainMs: number;
}

async function deliveryRound(
  options: Options,
  resources: Resources,
  dialect: Dialect,
  label: string,
): Promise<DeliveryFigures> {
  const bench = await startServer(resources, dialect, 'delivery');
  const receipts: Receipt[] = [];
  let sinkServer: Server | undefined;
  try {
    const sink = await startSink(resources, receipts);
    sinkServer = sink.server;
    const sinkUrl = sink.url;
    const response = await fetch(`${bench.baseUrl}/api/v1/events/subscriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bench.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ org: ORG, sink_url: sinkUrl, description: 'bench/audit.bench.ts' }),
    });
    await expectStatus(response, 201, 'POST /api/v1/events/subscriptions');
    // The subscription's own "created" event is in its org: wait until it has arrived (worker up).
    for (let waited = 0; receipts.length === 0; waited += 10) {
      if (waited > 10_000) throw new Error(`${label}: the sink received nothing within 10 s of subscribing`);
      await sleep(10);
    }
    const actor: AuditActor = {
      subject: 'user:bench',
      kind: 'user',
      act: { iss: 'https://login.example.com', sub: 'bench' },
    };
    const intervalMs = 1000 / options.deliveryRate;
    const inFlight = new Set<Promise<void>>();
    let failures = 0;
    let total = 0;
    progress(`${label}: ${options.deliveryRate} events/s for ${options.deliverySeconds} s …`);
    const loopBefore = performance.eventLoopUtilization();
    const startedAt = performance.now();
    const stopAt = startedAt + options.deliverySeconds * 1000;
    for (let i = 0; ; i++) {
      // Event i is due at start + i·interval. A database that cannot record that fast makes the
      // generator fall behind (the achieved rate says so) rather than queue thousands of
      // transactions in front of the deliverer's own queries.
      while (inFlight.size >= DELIVERY_IN_FLIGHT) await Promise.race(inFlight);
      const due = startedAt + i * intervalMs;
      if (due >= stopAt || performance.now() >= stopAt) break;
      const wait = due - performance.now();
      if (wait >= 1) await sleep(wait);
      total += 1;
      const recorded: Promise<void> = bench.server.audit
        .recordAlone({
          type: DELIVERY_TYPE,
          org: ORG,
          subject: `bench/event/${i}`,
          actor,
          body: { index: i, note: 'bench/audit.bench.ts delivery latency' },
        })
        .catch(() => void (failures += 1))
        .finally(() => inFlight.delete(recorded));
      inFlight.add(recorded);
    }
    await Promise.all(inFlight);
    const generatedAt = performance.now();
    const loopBusy = performance.eventLoopUtilization(loopBefore).utilization;
    const achievedRate = total / ((generatedAt - startedAt) / 1000);
    if (failures > 0) throw new Error(`${label}: ${failures} events could not be recorded`);
    const wanted = () => receipts.filter((r) => r.type === DELIVERY_TYPE);
    const distinct = () => new Set(wanted().map((r) => r.id)).size;
    while (distinct() < total) {
      if (performance.now() - generatedAt > DELIVERY_DRAIN_MS) {
        throw new Error(
          `${label}: only ${distinct()} of ${total} events arrived within ${DELIVERY_DRAIN_MS / 1000} s`,
        );
      }
      await sleep(20);
    }
    const drainMs = performance.now() - generatedAt;
    const first = new Map<string, Receipt>();
    for (const receipt of wanted()) if (!first.has(receipt.id)) first.set(receipt.id, receipt);
    const seqs = [...first.values()].map((r) => r.seq);
    if (seqs.some((seq, i) => i > 0 && seq <= seqs[i - 1]!))
      throw new Error(`${label}: events arrived out of order`);
    const latencies = [...first.values()].map((r) => r.receivedAt - r.eventTime).sort((a, b) => a - b);
    return {
      generated: total,
      delivered: first.size,
      duplicates: wanted().length - first.size,
      achievedRate,
      loopBusy,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.at(-1)!,
      drainMs,
    };
  } finally {
    await stopServer(resources, bench);
    if (sinkServer) await closeHttp(resources, sinkServer);
  }
}

async function measureDelivery(
  options: Options,
  resources: Resources,
  dialect: Dialect,
): Promise<DeliveryFigures[]> {
  const rounds: DeliveryFigures[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const label = `${DIALECT_TITLES[dialect]} round ${round + 1}/${options.rounds}: delivery`;
    const figures = await deliveryRound(options, resources, dialect, label);
    progress(
      `${label}: ${figures.delivered}/${figures.generated} delivered (${figures.duplicates} duplicates) at ` +
        `${figures.achievedRate.toFixed(0)} events/s (event loop ${(figures.loopBusy * 100).toFixed(0)}% busy); latency p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms, ` +
        `max ${figures.maxMs} ms; drained ${figures.drainMs.toFixed(0)} ms after the last event`,
    );
    rounds.push(figures);
  }
  return rounds;
}

// --- report ---

interface DialectResults {
  dialect: Dialect;
  mutations?: MutationRound[];
  interleaved?: InterleavedFigures;
  pushes?: PushFigures;
  verify?: VerifyResults;
  delivery?: DeliveryFigures[];
}

interface DialectSummary {
  offRps?: number;
  onRps?: number;
  /** Median over rounds of on/off within the round (the two ran back to back). */
  ratio?: number;
  roundRatios?: number[];
  /** Median over adjacent window pairs of on/off, one server switching (measureInterleaved). */
  interleavedRatio?: number;
  interleavedPairs?: number[];
  interleavedCpu?: { on: number | undefined; off: number | undefined };
  pushesRatio?: number;
  pushesPairs?: number[];
  pushesOffPerSecond?: number;
  pushesOnPerSecond?: number;
  eventsPerImage?: number;
  offCpuMicros?: number;
  onCpuMicros?: number;
  offP99Ms?: number;
  onP99Ms?: number;
  onLoopBusy?: number;
  offLoopBusy?: number;
  verifyPerSecond?: number;
  offlinePerSecond?: number;
  exportPerSecond?: number;
  exportMBps?: number;
  fillPerSecond?: number;
  meanEventBytes?: number;
  deliveryP50Ms?: number;
  deliveryP99Ms?: number;
  deliveryMaxMs?: number;
  delivered?: string;
  deliveryRate?: number;
  deliveryLoopBusy?: number;
}

function summarize(results: DialectResults): DialectSummary {
  const med = <T>(rounds: T[] | undefined, pick: (round: T) => number) =>
    rounds ? median(rounds.map(pick)) : undefined;
  const m = results.mutations;
  const v = results.verify?.rounds;
  const d = results.delivery;
  const roundRatios = m?.map((r) => r.on.requestsPerSecond / r.off.requestsPerSecond);
  return {
    offRps: med(m, (r) => r.off.requestsPerSecond),
    onRps: med(m, (r) => r.on.requestsPerSecond),
    ratio: roundRatios && median(roundRatios),
    roundRatios,
    interleavedRatio: results.interleaved?.ratio,
    interleavedPairs: results.interleaved?.pairRatios,
    interleavedCpu: results.interleaved && {
      on: median(results.interleaved.windows.filter((w) => w.recording).map((w) => w.cpuMicrosPerRequest)),
      off: median(results.interleaved.windows.filter((w) => !w.recording).map((w) => w.cpuMicrosPerRequest)),
    },
    pushesRatio: results.pushes?.ratio,
    pushesPairs: results.pushes?.pairRatios,
    pushesOffPerSecond:
      results.pushes &&
      median(results.pushes.windows.filter((w) => !w.recording).map((w) => w.requestsPerSecond)),
    pushesOnPerSecond:
      results.pushes &&
      median(results.pushes.windows.filter((w) => w.recording).map((w) => w.requestsPerSecond)),
    eventsPerImage: results.pushes?.eventsPerImage,
    offCpuMicros: med(m, (r) => r.off.serverCpuMicrosPerRequest),
    onCpuMicros: med(m, (r) => r.on.serverCpuMicrosPerRequest),
    offP99Ms: med(m, (r) => r.off.p99Ms),
    onP99Ms: med(m, (r) => r.on.p99Ms),
    offLoopBusy: med(m, (r) => r.off.serverLoopBusy),
    onLoopBusy: med(m, (r) => r.on.serverLoopBusy),
    verifyPerSecond: med(v, (r) => r.stored.perSecond),
    offlinePerSecond: med(v, (r) => r.offline.perSecond),
    exportPerSecond: med(v, (r) => r.export.eventsPerSecond),
    exportMBps: med(v, (r) => r.export.megabytesPerSecond),
    fillPerSecond: results.verify?.fill.perSecond,
    meanEventBytes: results.verify?.fill.meanEventBytes,
    deliveryP50Ms: med(d, (r) => r.p50Ms),
    deliveryP99Ms: med(d, (r) => r.p99Ms),
    deliveryMaxMs: d ? Math.max(...d.map((r) => r.maxMs)) : undefined,
    delivered: d
      ? `${d.reduce((sum, r) => sum + r.delivered, 0).toLocaleString('en-US')}/${d
          .reduce((sum, r) => sum + r.generated, 0)
          .toLocaleString('en-US')}`
      : undefined,
    deliveryRate: med(d, (r) => r.achievedRate),
    deliveryLoopBusy: med(d, (r) => r.loopBusy),
  };
}

function number(value: number | undefined, digits = 0): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function percent(value: number | undefined): string {
  return value === undefined ? '—' : `${(value * 100).toFixed(0)}%`;
}

function verdict(
  summaries: [Dialect, DialectSummary][],
  pick: (s: DialectSummary) => number | undefined,
  met: (value: number) => boolean,
): string {
  const parts = summaries
    .map(([dialect, s]) => [dialect, pick(s)] as const)
    .filter((entry): entry is readonly [Dialect, number] => entry[1] !== undefined)
    .map(([dialect, value]) => `${met(value) ? 'met' : '**missed**'} (${DIALECT_TITLES[dialect]})`);
  return parts.length ? parts.join(', ') : 'not measured';
}

function table(summaries: [Dialect, DialectSummary][], options: Options): string {
  const row = (label: string, pick: (s: DialectSummary) => string, target = '—') =>
    `| ${label} | ${summaries.map(([, s]) => pick(s)).join(' | ')} | ${target} |`;
  /** A row held to a floor, with the verdict per database. */
  const atLeast = (
    label: string,
    pick: (s: DialectSummary) => number | undefined,
    floor: number,
    digits = 0,
  ) =>
    row(
      label,
      (s) => number(pick(s), digits),
      `≥ ${number(floor, Number.isInteger(floor) ? 0 : 1)} — ${verdict(summaries, pick, (v) => v >= floor)}`,
    );
  const lines = [
    `| measurement | ${summaries.map(([dialect]) => DIALECT_TITLES[dialect]).join(' | ')} | target |`,
    `| --- | ${summaries.map(() => '---:').join(' | ')} | --- |`,
  ];
  if (options.parts.has('mutations')) {
    lines.push(
      row(`manifest PUT, new tag, ${options.connections} connections, auditing off (req/s)`, (s) =>
        number(s.offRps),
      ),
      row('manifest PUT, auditing on: 2 events per request (req/s)', (s) => number(s.onRps)),
      atLeast('auditing on / off, req/s', (s) => s.ratio, TARGET_ON_OFF, 2),
      row('server CPU per PUT, off → on (µs)', (s) => `${number(s.offCpuMicros)} → ${number(s.onCpuMicros)}`),
      row('server event loop busy, off → on', (s) => `${percent(s.offLoopBusy)} → ${percent(s.onLoopBusy)}`),
      row('PUT p99 latency, off → on (ms)', (s) => `${number(s.offP99Ms)} → ${number(s.onP99Ms)}`),
    );
  }
  if (options.parts.has('interleaved')) {
    lines.push(
      atLeast(
        `auditing on / off, one server switching every ${options.windowSeconds} s (req/s)`,
        (s) => s.interleavedRatio,
        TARGET_ON_OFF,
        2,
      ),
      row(
        'server CPU per PUT in those windows, off → on (µs)',
        (s) => `${number(s.interleavedCpu?.off)} → ${number(s.interleavedCpu?.on)}`,
      ),
    );
  }
  if (options.parts.has('pushes')) {
    lines.push(
      row(
        `image pushes (2 blobs + manifest), ${PUSH_CONCURRENCY} at once, auditing off → on (images/s)`,
        (s) => `${number(s.pushesOffPerSecond, 1)} → ${number(s.pushesOnPerSecond, 1)}`,
      ),
      row('audit events per image pushed', (s) => number(s.eventsPerImage)),
      atLeast(
        `image pushes, auditing on / off, one server switching every ${options.windowSeconds} s`,
        (s) => s.pushesRatio,
        TARGET_ON_OFF,
        2,
      ),
    );
  }
  if (options.parts.has('verify')) {
    lines.push(
      row(`append, ${FILL_BATCH} per transaction (events/s)`, (s) => number(s.fillPerSecond)),
      atLeast(
        'chain verification, verifyStored (events/s)',
        (s) => s.verifyPerSecond,
        TARGET_VERIFY_PER_SECOND,
      ),
      atLeast(
        'palisade audit verify: the export, with checkpoints (events/s)',
        (s) => s.offlinePerSecond,
        TARGET_VERIFY_PER_SECOND,
      ),
      row('export, GET /api/v1/events/export NDJSON (events/s)', (s) => number(s.exportPerSecond)),
      row('export (MB/s)', (s) => number(s.exportMBps, 1)),
    );
  }
  if (options.parts.has('delivery')) {
    lines.push(
      row(`delivery: events/s recorded (asked ${options.deliveryRate})`, (s) => number(s.deliveryRate)),
      row('delivery: event loop busy while recording', (s) => percent(s.deliveryLoopBusy)),
      row('delivery latency, ce-time → sink, p50 (ms)', (s) => number(s.deliveryP50Ms)),
      row('delivery latency p99 (ms)', (s) => number(s.deliveryP99Ms)),
      row('delivery latency max, all rounds (ms)', (s) => number(s.deliveryMaxMs)),
      row('events delivered / generated', (s) => s.delivered ?? '—', 'all'),
    );
  }
  return lines.join('\n');
}

async function run(options: Options, resources: Resources): Promise<void> {
  const machine = machineInfo();
  resources.tempRoot = await mkdtemp(join(tmpdir(), 'palisade-audit-bench-'));
  const dialects: Dialect[] = ['sqlite'];
  let postgresNote: string;
  if (options.skipPostgres) postgresNote = 'PostgreSQL skipped (--skip-postgres).';
  else if (!options.databaseUrl)
    postgresNote = 'PostgreSQL skipped: neither PALISADE_TEST_DATABASE_URL nor --database-url is set.';
  else {
    // createTestDatabase reads it from the environment.
    process.env.PALISADE_TEST_DATABASE_URL = options.databaseUrl;
    dialects.push('postgres');
    postgresNote =
      'PostgreSQL: a fresh schema per server on the given server (same machine), dropped afterwards.';
  }
  progress(postgresNote);
  const results: DialectResults[] = [];
  for (const dialect of dialects) {
    const result: DialectResults = { dialect };
    results.push(result);
    if (options.parts.has('mutations'))
      result.mutations = await measureMutations(options, resources, dialect);
    if (options.parts.has('interleaved'))
      result.interleaved = await measureInterleaved(options, resources, dialect);
    if (options.parts.has('pushes')) result.pushes = await measurePushes(options, resources, dialect);
    if (options.parts.has('verify')) result.verify = await measureVerify(options, resources, dialect);
    if (options.parts.has('delivery')) result.delivery = await measureDelivery(options, resources, dialect);
  }
  const summaries = results.map((r) => [r.dialect, summarize(r)] as [Dialect, DialectSummary]);
  if (options.json) {
    const { parts, ...rest } = options;
    const report = {
      machine,
      options: { ...rest, parts: [...parts] },
      results,
      summaries: Object.fromEntries(summaries),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const perRound = summaries
    .filter(([, s]) => s.roundRatios)
    .map(([dialect, s]) => `${DIALECT_TITLES[dialect]} ${s.roundRatios!.map((r) => r.toFixed(2)).join(', ')}`)
    .join('; ');
  const deliveryRounds = results
    .filter((r) => r.delivery)
    .map(
      (r) =>
        `${DIALECT_TITLES[r.dialect]} ${r.delivery!.map((d) => `${number(d.p50Ms)}/${number(d.p99Ms)}`).join(', ')}`,
    )
    .join('; ');
  const sizes = summaries
    .filter(([, s]) => s.meanEventBytes !== undefined)
    .map(([dialect, s]) => `${DIALECT_TITLES[dialect]} ${number(s.meanEventBytes)} bytes`)
    .join(', ');
  const lines = [
    '',
    `## Audit log — ${options.rounds} round(s), medians`,
    '',
    table(summaries, options),
    '',
    ...(perRound
      ? [`Per-round on/off ratios: ${perRound}. Each variant ran on a fresh database and server.`]
      : []),
    ...(options.parts.has('interleaved')
      ? [
          `Interleaved on/off per window pair: ${summaries
            .map(
              ([dialect, s]) =>
                `${DIALECT_TITLES[dialect]} ${(s.interleavedPairs ?? []).map((r) => r.toFixed(2)).join(', ')}`,
            )
            .join(
              '; ',
            )}. One server and database per dialect, one load of ${options.connections} connections; auditing ` +
            `switched every ${options.windowSeconds} s after ${options.warmupSeconds} s of warm-up, pairs alternating which goes first.`,
        ]
      : []),
    ...(options.parts.has('pushes')
      ? [
          `Image pushes on/off per window pair: ${summaries
            .map(
              ([dialect, s]) =>
                `${DIALECT_TITLES[dialect]} ${(s.pushesPairs ?? []).map((r) => r.toFixed(2)).join(', ')}`,
            )
            .join(
              '; ',
            )}. One server per dialect, ${PUSH_CONCURRENCY} Node fetch loops in a process of their own.`,
        ]
      : []),
    ...(sizes
      ? [`Verification database: ${number(options.events)} events, mean stored event ${sizes}.`]
      : []),
    ...(options.parts.has('delivery')
      ? [
          `Delivery: ${options.deliverySeconds} s per round, events asked at ${options.deliveryRate}/s with at most ` +
            `${DELIVERY_IN_FLIGHT} recordings waiting; latency is the sink's receive time minus the event's ce-time ` +
            '(stamped when the event is recorded, before the head lock, insert and commit of its transaction). ' +
            `Per-round p50/p99 (ms): ${deliveryRounds}.`,
        ]
      : []),
    postgresNote,
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
  return runBenchmark(new Resources(), (resources) => run(options, resources), { progress });
}

process.exitCode = await main();
