// Palisade vs CNCF Distribution: starts both registries side by side on loopback, each with a fresh
// temp data dir, drives them with the same client workload for several rounds (alternating which
// goes first), and prints the medians, the Palisade/Distribution ratios and the targets they are
// held to. Run `npx tsx bench/registry.bench.ts --help` for the options.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BlobSource } from './lib/blob-source.js';
import { writeBlobFiles, type BlobFiles } from './lib/curl-transfer.js';
import { readPeakRssBytes, withRssSampling } from './lib/proc-memory.js';
import { RegistryClient, type PushedImage } from './lib/registry-client.js';
import { runBenchmark } from './lib/main.js';
import {
  DISTRIBUTION_BINARY,
  PALISADE_TOKEN_TTL_SECONDS,
  startDistribution,
  startPalisade,
  type RunningServer,
} from './lib/registry-servers.js';
import {
  REGISTRIES,
  REGISTRY_TITLES,
  compare,
  machineInfo,
  machineLine,
  markdownTable,
  summarize,
  type RegistryName,
  type RoundFigures,
  type Summary,
} from './lib/report.js';

const MiB = 1024 * 1024;
const CHUNK_SIZE = 16 * MiB;
const SMALL_IMAGE_CONCURRENCY = 8;
const MANIFEST_CONNECTIONS = 64;
const BLOB_REPOSITORY = 'bench/blob';
const SMALL_REPOSITORY = 'bench/small';
const MANIFEST_REPOSITORY = 'bench/manifest';
/**
 * Palisade's token is minted afresh every round and renewed before any workload once it is this
 * old: the 15 minutes left cover one workload (a big blob push, a --duration of manifest load).
 */
const TOKEN_RENEW_AFTER_MS = PALISADE_TOKEN_TTL_SECONDS * 1000 - 15 * 60_000;

const USAGE = `Usage: npx tsx bench/registry.bench.ts [options]

Runs the same client workload against Palisade and CNCF Distribution (Debian's docker-registry),
both on 127.0.0.1 with fresh temp data dirs, and prints a Markdown table of the medians over the
rounds with the Palisade/Distribution ratio and the target for each figure.

Workloads, per round and registry (the order of the registries alternates between rounds):
  a. monolithic push of one --blob-mib blob (POST, then PUT ?digest= with the streamed body)
  b. chunked push of another blob that size, ${CHUNK_SIZE / MiB} MiB PATCHes, then PUT ?digest=
  c. pull of the blob from (a); its sha256 is verified afterwards, untimed
  d. --small-images small image pushes (config + ~1 KiB layer + OCI manifest), ${SMALL_IMAGE_CONCURRENCY} concurrent
  e. manifest GET by tag, ${MANIFEST_CONNECTIONS} connections, for --duration seconds, with --load-client
The server's RSS is sampled every 100 ms during (a), (b) and (c); the peak is reported.
After each workload, untimed, the benchmark waits until Palisade has no background job queued or
running (its /metrics); after (d) that is the burst's image analyses, reported as images/s.
Palisade requires authentication: every request to it carries "Authorization: Bearer <token>"
with an admin token from "palisade admin token --ttl 1h" (minted outside the timed parts, afresh
every round); Distribution's requests carry no Authorization header.

Options:
  --rounds N          rounds per registry (default 3); the median is reported (peak RSS: the max)
  --blob-mib N        size of the big blobs in MiB (default 1024)
  --small-images N    small images pushed per round (default 1000)
  --duration S        seconds of manifest GET load per round (default 10)
  --only NAME         run one registry only: palisade or distribution
  --palisade-cmd CMD  run CMD instead of "node --import tsx src/cli/palisade.ts" (from the repo
                      root); "serve --host 127.0.0.1 --port P --data-dir D" is appended unless CMD
                      contains {port}, in which case {host}, {port} and {dataDir} are substituted;
                      tokens come from the same command with "serve" replaced by "admin token"
  --client curl|fetch who moves the big blobs in (a)-(c): curl from files written before the
                      timed part (default; a Node client on 2 cores is as busy as the server it
                      measures), or Node's fetch streaming from memory
  --load-client wrk|autocannon
                      who generates the manifest GET load: wrk with one thread (default;
                      apt-get install wrk), or autocannon, which needs most of a core itself
                      on a 2-core machine and so measures the client as much as the server
  --json              print the raw figures as JSON instead of the table
  -h, --help          show this help

Progress goes to stderr. Distribution needs ${DISTRIBUTION_BINARY} (apt-get install docker-registry).`;

interface Options {
  rounds: number;
  blobBytes: number;
  smallImages: number;
  durationSeconds: number;
  registries: RegistryName[];
  palisadeCommand: string | undefined;
  /** Who moves the big blobs: curl (default; light on CPU) or Node's fetch. */
  blobClient: 'curl' | 'fetch';
  /** Who generates the manifest GET load: wrk (default; one thread, light on CPU) or autocannon. */
  loadClient: 'wrk' | 'autocannon';
  json: boolean;
}

class UsageError extends Error {}

function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 1)
    throw new UsageError(`--${name} must be a positive integer`);
  return number;
}

function blobClient(value: string | undefined): 'curl' | 'fetch' {
  if (value === undefined || value === 'curl' || value === 'fetch') return value ?? 'curl';
  throw new UsageError('--client must be curl or fetch');
}

function loadClient(value: string | undefined): 'wrk' | 'autocannon' {
  if (value === undefined || value === 'wrk' || value === 'autocannon') return value ?? 'wrk';
  throw new UsageError('--load-client must be wrk or autocannon');
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
        'blob-mib': { type: 'string' },
        'small-images': { type: 'string' },
        duration: { type: 'string' },
        only: { type: 'string' },
        'palisade-cmd': { type: 'string' },
        client: { type: 'string' },
        'load-client': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return 'help';
  const only = values.only;
  if (only !== undefined && !REGISTRIES.includes(only as RegistryName)) {
    throw new UsageError(`--only must be one of: ${REGISTRIES.join(', ')}`);
  }
  return {
    rounds: positiveInteger('rounds', values.rounds, 3),
    blobBytes: positiveInteger('blob-mib', values['blob-mib'], 1024) * MiB,
    smallImages: positiveInteger('small-images', values['small-images'], 1000),
    durationSeconds: positiveInteger('duration', values.duration, 10),
    registries: only === undefined ? [...REGISTRIES] : [only as RegistryName],
    palisadeCommand: values['palisade-cmd'],
    blobClient: blobClient(values.client),
    loadClient: loadClient(values['load-client']),
    json: values.json,
  };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function progress(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

function mb(bytes: number | undefined): number | undefined {
  return bytes === undefined ? undefined : bytes / 1e6;
}

/** Everything that must be undone on the way out, whatever the way out is. */
class Resources {
  readonly servers: RunningServer[] = [];
  tempRoot: string | undefined;
  interrupted: NodeJS.Signals | undefined;
  private cleaning: Promise<void> | undefined;

  /** Stops the servers (gracefully, then forcefully) and deletes the temp dirs; safe to call twice. */
  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      await Promise.all(this.servers.map((server) => server.stop()));
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
    for (const server of this.servers) server.killNow();
    if (this.tempRoot !== undefined) rmSync(this.tempRoot, { recursive: true, force: true });
    this.tempRoot = undefined;
  }
}

interface RegistryUnderTest {
  name: RegistryName;
  server: RunningServer;
  client: RegistryClient;
  rounds: RoundFigures[];
  manifestTarget?: PushedImage;
  /** When the client's current token was asked for (Date.now()); unset until one is minted. */
  tokenMintedAt?: number;
}

/**
 * Gives the client of a registry that requires authentication a token: a fresh one with
 * `renew: 'always'`, else only once the current one is TOKEN_RENEW_AFTER_MS old. A new token is
 * tried on GET /v2/ at once, so a bad one fails here rather than as a 401 deep in a workload.
 * Registries that need no token (Distribution) are left alone: no header, no extra request.
 */
async function authorize(registry: RegistryUnderTest, renew: 'always' | 'when-old'): Promise<void> {
  const mint = registry.server.mintToken;
  if (mint === undefined) return;
  const age = registry.tokenMintedAt === undefined ? Infinity : Date.now() - registry.tokenMintedAt;
  if (renew === 'when-old' && age < TOKEN_RENEW_AFTER_MS) return;
  const askedAt = Date.now(); // the token's clock starts no earlier than this
  registry.client.authorization = `Bearer ${await mint()}`;
  registry.tokenMintedAt = askedAt;
  const status = await registry.client.ping();
  if (status !== 200) throw new Error(`GET /v2/ with the new admin token answered HTTP ${status}`);
  progress(
    `${REGISTRY_TITLES[registry.name]}: new admin token (${PALISADE_TOKEN_TTL_SECONDS / 60} min), GET /v2/ answers 200`,
  );
}

type Workload = (
  registry: RegistryUnderTest,
  round: number,
  figures: RoundFigures,
  blobs: RoundBlobs,
) => Promise<string>;

interface RoundBlobs {
  monolithic: BlobSource;
  chunked: BlobSource;
  /** Files of the two blobs when curl moves them. */
  files?: { monolithic: BlobFiles; chunked: BlobFiles };
}

function mbPerSecond(value: number): string {
  return `${value.toFixed(1)} MB/s`;
}

function notePeak(figures: RoundFigures, peakRssBytes: number | undefined): void {
  const peak = mb(peakRssBytes);
  if (peak !== undefined) figures.blobPeakRssMB = Math.max(figures.blobPeakRssMB ?? 0, peak);
}

/**
 * Flushes every dirty page before a timed blob workload. Distribution never fsyncs, so without
 * this its leftover writes would still be going to disk while the next registry is measured.
 */
function flushDisks(): void {
  execFileSync('sync');
}

const DRAIN_POLL_MS = 200;
const DRAIN_LIMIT_MS = 30 * 60_000;

/**
 * Waits, untimed, until the registry has no background job queued or running, so that each
 * workload measures itself and not the backlog the one before left (a small-image burst queues an
 * analysis per image). Distribution has none; Palisade reports its jobs in /metrics. Returns how
 * long that took and how many jobs ended meanwhile, or undefined when there was nothing to wait for.
 */
async function drainBackgroundWork(
  registry: RegistryUnderTest,
): Promise<{ seconds: number; finished: number; failed: number } | undefined> {
  const startedAt = performance.now();
  const first = await registry.client.backgroundJobs();
  if (first === undefined) return undefined;
  let last = first;
  let idlePolls = 0;
  // Two idle polls in a row: a finished job may queue a follow-up (matching after an analysis).
  while (idlePolls < 2) {
    if ((last.queued ?? 0) + (last.running ?? 0) === 0) idlePolls++;
    else idlePolls = 0;
    if (idlePolls >= 2) break;
    if (performance.now() - startedAt > DRAIN_LIMIT_MS) {
      throw new Error(
        `background jobs still busy after ${DRAIN_LIMIT_MS / 60_000} min: ${JSON.stringify(last)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    last = (await registry.client.backgroundJobs()) ?? {};
  }
  const ended = (counts: Record<string, number>): number => (counts.succeeded ?? 0) + (counts.failed ?? 0);
  if (ended(last) === ended(first) && (first.queued ?? 0) + (first.running ?? 0) === 0) return undefined;
  return {
    // The last DRAIN_POLL_MS was spent confirming the queue stayed empty.
    seconds: Math.max((performance.now() - startedAt - DRAIN_POLL_MS) / 1000, DRAIN_POLL_MS / 1000),
    finished: ended(last) - ended(first),
    failed: (last.failed ?? 0) - (first.failed ?? 0),
  };
}

function workloads(options: Options): { title: string; run: Workload; smallImages?: boolean }[] {
  const blobMiB = options.blobBytes / MiB;
  return [
    {
      title: `monolithic push, ${blobMiB} MiB`,
      run: async ({ client, server }, _round, figures, blobs) => {
        flushDisks();
        const { result, peakRssBytes } = await withRssSampling(server.serverPid, () =>
          blobs.files
            ? client.pushMonolithicCurl(BLOB_REPOSITORY, blobs.monolithic, blobs.files.monolithic)
            : client.pushMonolithic(BLOB_REPOSITORY, blobs.monolithic),
        );
        figures.monolithicPushMBps = result.mbPerSecond;
        notePeak(figures, peakRssBytes);
        return `${mbPerSecond(result.mbPerSecond)}, peak RSS ${mb(peakRssBytes)?.toFixed(0)} MB`;
      },
    },
    {
      title: `chunked push, ${blobMiB} MiB in ${CHUNK_SIZE / MiB} MiB chunks`,
      run: async ({ client, server }, _round, figures, blobs) => {
        flushDisks();
        const { result, peakRssBytes } = await withRssSampling(server.serverPid, () =>
          blobs.files
            ? client.pushChunkedCurl(BLOB_REPOSITORY, blobs.chunked, blobs.files.chunked)
            : client.pushChunked(BLOB_REPOSITORY, blobs.chunked, CHUNK_SIZE),
        );
        figures.chunkedPushMBps = result.mbPerSecond;
        notePeak(figures, peakRssBytes);
        return `${mbPerSecond(result.mbPerSecond)}, peak RSS ${mb(peakRssBytes)?.toFixed(0)} MB`;
      },
    },
    {
      title: `pull, ${blobMiB} MiB`,
      run: async ({ client, server }, _round, figures, blobs) => {
        flushDisks();
        const { result, peakRssBytes } = await withRssSampling(server.serverPid, () =>
          blobs.files
            ? client.pullBlobCurl(BLOB_REPOSITORY, blobs.monolithic.digest(), blobs.monolithic.size)
            : client.pullBlob(BLOB_REPOSITORY, blobs.monolithic.digest(), blobs.monolithic.size),
        );
        // curl only counted bytes: check the content too, outside the timed part.
        if (blobs.files)
          await client.pullBlob(BLOB_REPOSITORY, blobs.monolithic.digest(), blobs.monolithic.size);
        figures.pullMBps = result.mbPerSecond;
        notePeak(figures, peakRssBytes);
        return `${mbPerSecond(result.mbPerSecond)}, peak RSS ${mb(peakRssBytes)?.toFixed(0)} MB`;
      },
    },
    {
      title: `${options.smallImages} small image pushes, ${SMALL_IMAGE_CONCURRENCY} concurrent`,
      smallImages: true,
      run: async ({ client }, round, figures) => {
        const result = await client.pushSmallImages(
          SMALL_REPOSITORY,
          options.smallImages,
          SMALL_IMAGE_CONCURRENCY,
          `r${round}-`,
        );
        figures.smallImagesPerSecond = result.imagesPerSecond;
        return `${result.imagesPerSecond.toFixed(1)} images/s (${result.seconds.toFixed(2)} s)`;
      },
    },
    {
      title: `manifest GET, ${MANIFEST_CONNECTIONS} connections for ${options.durationSeconds} s`,
      run: async (registry, _round, figures) => {
        if (registry.manifestTarget === undefined) {
          registry.manifestTarget = await registry.client.pushSmallImage(MANIFEST_REPOSITORY, 'latest');
        }
        await registry.client.checkManifest(registry.manifestTarget);
        const result = await registry.client.loadManifest(
          registry.manifestTarget,
          MANIFEST_CONNECTIONS,
          options.durationSeconds,
          options.loadClient,
        );
        figures.manifestGetRps = result.requestsPerSecond;
        figures.manifestGetP99Ms = result.p99Ms;
        figures.manifestGetFailures = result.non2xx + result.errors;
        const failures = figures.manifestGetFailures
          ? ` — ${result.non2xx} non-2xx, ${result.errors} errors (${result.timeouts} timeouts)`
          : '';
        return `${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms${failures}`;
      },
    },
  ];
}

async function startRegistry(
  name: RegistryName,
  options: Options,
  resources: Resources,
): Promise<RegistryUnderTest> {
  const dir = join(resources.tempRoot!, name);
  await mkdir(dir, { recursive: true });
  progress(`starting ${REGISTRY_TITLES[name]} (data in ${dir})`);
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  const server =
    name === 'distribution'
      ? await startDistribution({ dir })
      : await startPalisade({ repoRoot, dataDir: join(dir, 'data'), command: options.palisadeCommand });
  resources.servers.push(server);
  progress(`${REGISTRY_TITLES[name]} is up at ${server.baseUrl} (server pid ${server.serverPid})`);
  return { name, server, client: new RegistryClient(server.baseUrl), rounds: [] };
}

interface JsonReport {
  machine: ReturnType<typeof machineInfo>;
  options: {
    rounds: number;
    blobMiB: number;
    chunkMiB: number;
    smallImages: number;
    smallImageConcurrency: number;
    manifestConnections: number;
    loadClient: 'wrk' | 'autocannon';
    durationSeconds: number;
  };
  registries: Partial<
    Record<RegistryName, { rounds: RoundFigures[]; summary: Summary; lifetimePeakRssMB: number | undefined }>
  >;
  comparison: ReturnType<typeof compare>;
}

async function run(options: Options, resources: Resources): Promise<void> {
  const machine = machineInfo();
  resources.tempRoot = await mkdtemp(join(tmpdir(), 'palisade-bench-'));
  const registries: RegistryUnderTest[] = [];
  for (const name of options.registries) registries.push(await startRegistry(name, options, resources));

  const plan = workloads(options);
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? registries : [...registries].reverse();
    const roundLabel = `round ${round + 1}/${options.rounds}`;
    progress(`${roundLabel}: order ${order.map((registry) => REGISTRY_TITLES[registry.name]).join(', ')}`);
    for (const registry of order) {
      try {
        await authorize(registry, 'always');
      } catch (error) {
        registry.server.assertAlive();
        throw new Error(`${REGISTRY_TITLES[registry.name]}: ${errorMessage(error)}`, { cause: error });
      }
    }
    // Fresh content every round (so no registry can answer from an earlier upload), the same for
    // every registry; the sha256 pass happens here, outside the timed sections.
    const blobs: RoundBlobs = {
      monolithic: new BlobSource(options.blobBytes, 0x1000 + round),
      chunked: new BlobSource(options.blobBytes, 0x2000 + round),
    };
    progress(`${roundLabel}: computing sha256 of the two ${options.blobBytes / MiB} MiB blobs`);
    blobs.monolithic.digest();
    blobs.chunked.digest();
    if (options.blobClient === 'curl') {
      progress(`${roundLabel}: writing the blobs to files for curl`);
      const dir = join(resources.tempRoot, `blobs-${round}`);
      blobs.files = {
        monolithic: await writeBlobFiles(blobs.monolithic, join(dir, 'monolithic'), CHUNK_SIZE),
        chunked: await writeBlobFiles(blobs.chunked, join(dir, 'chunked'), CHUNK_SIZE),
      };
    }
    const figures = new Map<RegistryUnderTest, RoundFigures>(order.map((registry) => [registry, {}]));
    for (const workload of plan) {
      for (const registry of order) {
        registry.server.assertAlive();
        progress(`${roundLabel}: ${REGISTRY_TITLES[registry.name]}: ${workload.title} …`);
        let outcome: string;
        try {
          await authorize(registry, 'when-old'); // outside the timed part, which starts in run()
          outcome = await workload.run(registry, round, figures.get(registry)!, blobs);
        } catch (error) {
          registry.server.assertAlive(); // a crash explains itself better than ECONNRESET
          throw new Error(`${REGISTRY_TITLES[registry.name]}: ${workload.title}: ${errorMessage(error)}`, {
            cause: error,
          });
        }
        progress(`${roundLabel}: ${REGISTRY_TITLES[registry.name]}: ${workload.title}: ${outcome}`);
        const drained = await drainBackgroundWork(registry);
        if (drained !== undefined) {
          if (workload.smallImages)
            figures.get(registry)!.imagesAnalysedPerSecond = options.smallImages / drained.seconds;
          progress(
            `${roundLabel}: ${REGISTRY_TITLES[registry.name]}: background jobs finished ${drained.seconds.toFixed(1)} s ` +
              `after ${workload.title} (${drained.finished} done${drained.failed ? `, ${drained.failed} FAILED` : ''})`,
          );
        }
      }
    }
    for (const registry of order) registry.rounds.push(figures.get(registry)!);
    await rm(join(resources.tempRoot, `blobs-${round}`), { recursive: true, force: true });
  }

  const summaries = new Map(registries.map((registry) => [registry.name, summarize(registry.rounds)]));
  const comparison = compare(summaries.get('palisade'), summaries.get('distribution'));
  if (options.json) {
    const report: JsonReport = {
      machine,
      options: {
        rounds: options.rounds,
        blobMiB: options.blobBytes / MiB,
        chunkMiB: CHUNK_SIZE / MiB,
        smallImages: options.smallImages,
        smallImageConcurrency: SMALL_IMAGE_CONCURRENCY,
        manifestConnections: MANIFEST_CONNECTIONS,
        loadClient: options.loadClient,
        durationSeconds: options.durationSeconds,
      },
      registries: Object.fromEntries(
        registries.map((registry) => [
          registry.name,
          {
            rounds: registry.rounds,
            summary: summaries.get(registry.name)!,
            lifetimePeakRssMB: mb(readPeakRssBytes(registry.server.serverPid)),
          },
        ]),
      ),
      comparison,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const failures = {
    palisade: summaries.get('palisade')?.manifestGetFailures,
    distribution: summaries.get('distribution')?.manifestGetFailures,
  };
  const lines = [
    '',
    `## Palisade vs Distribution — ${options.rounds} round(s), ${options.blobBytes / MiB} MiB blobs, ` +
      `${options.smallImages} small images, ${options.durationSeconds} s manifest load (${options.loadClient})`,
    '',
    markdownTable(comparison, failures),
    '',
    'Figures are medians over the rounds, except peak RSS (the highest 100 ms VmRSS sample of the server ' +
      'process during the big blob pushes and pulls of any round). MB = 10^6 bytes. Ratios are Palisade ÷ ' +
      'Distribution. Client and servers share the machine.',
    machineLine(machine),
  ];
  if (failures.palisade || failures.distribution) {
    lines.push(
      '⚠ The manifest GET load saw failed requests (non-2xx or socket errors); see the progress log.',
    );
  }
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
  if (options.registries.includes('distribution') && !existsSync(DISTRIBUTION_BINARY)) {
    process.stderr.write(
      `CNCF Distribution is not installed (${DISTRIBUTION_BINARY} is missing). Install it with:\n` +
        `  apt-get install docker-registry\n` +
        `or run Palisade alone with --only palisade.\n`,
    );
    return 1;
  }

  return runBenchmark(new Resources(), (resources) => run(options, resources), {
    progress,
    stopping: 'stopping the registries',
  });
}

process.exitCode = await main();
