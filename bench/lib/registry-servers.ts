// Starts and stops the registries the benchmark compares, each on a free loopback port with its own
// data dir: CNCF Distribution (Debian's docker-registry) and Palisade from this repository. Keeps
// the tail of each server's output so a crash can be explained, and can kill everything
// synchronously from an exit handler. Palisade requires a bearer token on every /v2 request, so its
// server can also mint admin tokens with `palisade admin token`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { findListeningPid } from './proc-memory.js';
import { RegistryClient } from './registry-client.js';

export const DISTRIBUTION_BINARY = '/usr/bin/docker-registry';

const OUTPUT_TAIL_LINES = 40;

/** Lifetime asked of `palisade admin token` (the most any Palisade credential may have). */
export const PALISADE_TOKEN_TTL_SECONDS = 3600;

export interface RunningServer {
  readonly name: string;
  readonly baseUrl: string;
  readonly port: number;
  /** The process that listens on the port (the one whose memory is measured). */
  readonly serverPid: number;
  /** Throws (with the server's last output) if the server has exited. */
  assertAlive(): void;
  /** Last lines the server printed, for error messages. */
  outputTail(): string;
  /** SIGTERM the server's process group, then SIGKILL it if it is still there after a grace period. */
  stop(): Promise<void>;
  /** SIGKILL the server's process group, synchronously (for process 'exit' handlers). */
  killNow(): void;
  /**
   * Mints a fresh admin access token, valid PALISADE_TOKEN_TTL_SECONDS, for a server that requires
   * one (Palisade); absent for a server that takes anonymous requests (Distribution).
   */
  readonly mintToken?: () => Promise<string>;
}

/** A port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not allocate a port');
  return address.port;
}

/** Splits a command line into words, honouring single and double quotes and backslashes. */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let index = 0; index < command.length; index++) {
    const char = command[index]!;
    if (quote) {
      if (char === quote) quote = undefined;
      else if (char === '\\' && quote === '"' && index + 1 < command.length) word += command[++index];
      else word += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else if (char === '\\' && index + 1 < command.length) {
      word += command[++index];
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} in command: ${command}`);
  if (inWord) words.push(word);
  return words;
}

class ServerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  private readonly tail: string[] = [];
  private partial = { stdout: '', stderr: '' };
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
  private readonly lineListeners: ((line: string) => void)[] = [];

  constructor(name: string, argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }) {
    this.name = name;
    const [command, ...args] = argv;
    if (command === undefined) throw new Error(`${name}: empty command`);
    // detached: its own process group, so stop() also reaches anything a wrapper command started.
    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      });
      this.child.once('error', (error) => {
        this.record('stderr', `${error.message}\n`);
        this.exit ??= { code: null, signal: null };
        resolve();
      });
    });
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => this.record('stdout', text));
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => this.record('stderr', text));
  }

  private record(stream: 'stdout' | 'stderr', text: string): void {
    const lines = (this.partial[stream] + text).split('\n');
    this.partial[stream] = lines.pop() ?? '';
    for (const line of lines) {
      this.tail.push(line);
      if (this.tail.length > OUTPUT_TAIL_LINES) this.tail.shift();
      for (const listener of this.lineListeners) listener(line);
    }
  }

  onLine(listener: (line: string) => void): void {
    this.lineListeners.push(listener);
  }

  outputTail(): string {
    const lines = [...this.tail, this.partial.stdout, this.partial.stderr].filter((line) => line !== '');
    return lines.length ? lines.map((line) => `  | ${line}`).join('\n') : '  | (no output)';
  }

  describeExit(): string {
    if (!this.exit) return `${this.name} is running`;
    const how = this.exit.signal ? `signal ${this.exit.signal}` : `code ${this.exit.code}`;
    return `${this.name} exited (${how}); its last output:\n${this.outputTail()}`;
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || this.exit) return;
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        this.child.kill(signal);
      } catch {
        // already gone
      }
    }
  }

  async stop(graceMs = 5000): Promise<void> {
    if (this.exit) return;
    this.signalGroup('SIGTERM');
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(graceMs, true)]);
    if (timedOut) {
      this.signalGroup('SIGKILL');
      await this.exited;
    }
  }

  killNow(): void {
    this.signalGroup('SIGKILL');
  }
}

function runningServer(
  server: ServerProcess,
  baseUrl: string,
  port: number,
  mintToken?: () => Promise<string>,
): RunningServer {
  return {
    name: server.name,
    baseUrl,
    port,
    serverPid: findListeningPid(server.child.pid!, port),
    assertAlive: () => {
      if (server.exit) throw new Error(server.describeExit());
    },
    outputTail: () => server.outputTail(),
    stop: () => server.stop(),
    killNow: () => server.killNow(),
    ...(mintToken && { mintToken }),
  };
}

async function waitFor<T>(
  server: ServerProcess,
  what: string,
  timeoutMs: number,
  poll: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exit) throw new Error(`${server.describeExit()}\n(while waiting for ${what})`);
    const value = await poll();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(
        `${server.name}: ${what} did not happen within ${timeoutMs / 1000} s; its last output:\n${server.outputTail()}`,
      );
    }
    await sleep(100);
  }
}

export interface DistributionOptions {
  /** Directory that will hold config.yml and the storage root. */
  dir: string;
  binary?: string;
}

/** Debian's docker-registry (CNCF Distribution 2.8) with filesystem storage under `dir`. */
export async function startDistribution(options: DistributionOptions): Promise<RunningServer> {
  const port = await freePort();
  const configPath = join(options.dir, 'config.yml');
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(join(options.dir, 'data'))}`,
    '  delete:',
    '    enabled: true',
    // Distribution's sample config caches blob descriptors in memory; a fair baseline keeps it.
    '  cache:',
    '    blobdescriptor: inmemory',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
  await writeFile(configPath, config);
  const server = new ServerProcess(
    'Distribution',
    [options.binary ?? DISTRIBUTION_BINARY, 'serve', configPath],
    {},
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const client = new RegistryClient(baseUrl);
  await waitFor(server, 'GET /v2/ answering 200', 30_000, async () => {
    const status = await client.ping().catch(() => undefined);
    return status === 200 ? true : undefined;
  });
  return runningServer(server, baseUrl, port);
}

export interface PalisadeOptions {
  repoRoot: string;
  dataDir: string;
  /**
   * Replaces `node --import tsx src/cli/palisade.ts`; `serve --host … --port … --data-dir …` is
   * appended unless the command has `{port}`, in which case `{host}`, `{port}` and `{dataDir}`
   * are substituted and nothing is appended.
   */
  command?: string;
}

const PALISADE_READY = /Palisade listening on (https?:\/\/\S+)/;

/** `serve` flags that `admin token` does not take (they do not change the data dir or the issuer). */
const SERVE_ONLY_FLAGS = new Set(['--dev']);
const SERVE_ONLY_OPTIONS = new Set(['--log-level']);

/**
 * The `admin token` command for a server started with `serveArgv`: the same CLI and the same
 * host options, so that it opens the same database and signs for the same issuer. With a {port}
 * template the CLI is whatever precedes the `serve` word; the serve-only flags are dropped.
 */
export function adminTokenArgv(serveArgv: string[], ttlSeconds: number): string[] {
  const serve = serveArgv.indexOf('serve');
  if (serve < 0) {
    throw new Error(
      `cannot derive "admin token" from a Palisade command without the word "serve": ${serveArgv.join(' ')}`,
    );
  }
  const hostOptions: string[] = [];
  const rest = serveArgv.slice(serve + 1);
  for (let index = 0; index < rest.length; index++) {
    const word = rest[index]!;
    const flag = word.split('=', 1)[0]!;
    if (SERVE_ONLY_FLAGS.has(flag)) continue;
    if (SERVE_ONLY_OPTIONS.has(flag)) {
      if (!word.includes('=')) index++; // and its value
      continue;
    }
    hostOptions.push(word);
  }
  return [...serveArgv.slice(0, serve), 'admin', 'token', '--ttl', `${ttlSeconds}s`, ...hostOptions];
}

/** Runs `palisade admin token` and returns the bare token it prints on stdout. */
export async function mintPalisadeToken(
  argv: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<string> {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('Palisade: empty admin token command');
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(command, args, { ...options, timeout: 120_000 }));
  } catch (error) {
    // execFile's error carries the command and its stderr; the token is not in either.
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`Palisade: could not mint an admin token: ${message}`, { cause: error });
  }
  const token = stdout.trim();
  // A JWT (three base64url parts): anything else would only turn into 401s later.
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) {
    throw new Error(`Palisade: "${argv.join(' ')}" printed no token: ${stdout.slice(0, 200)}`);
  }
  return token;
}

/** Palisade from this repository; ready when it prints `Palisade listening on http://H:P`. */
export async function startPalisade(options: PalisadeOptions): Promise<RunningServer> {
  const host = '127.0.0.1';
  const port = await freePort();
  let argv: string[];
  if (options.command === undefined) {
    argv = [process.execPath, '--import', 'tsx', 'src/cli/palisade.ts'];
  } else {
    argv = splitCommand(options.command);
  }
  if (options.command?.includes('{port}')) {
    const values: Record<string, string> = { host, port: String(port), dataDir: options.dataDir };
    argv = argv.map((word) => word.replace(/\{(host|port|dataDir)\}/g, (_, key: string) => values[key]!));
  } else {
    argv.push('serve', '--host', host, '--port', String(port), '--data-dir', options.dataDir);
  }
  const env = { ...process.env, PALISADE_LOG_LEVEL: 'warn' };
  const server = new ServerProcess('Palisade', argv, { cwd: options.repoRoot, env });
  // Same cwd and environment as the server: PALISADE_* variables are part of its configuration.
  const tokenArgv = adminTokenArgv(argv, PALISADE_TOKEN_TTL_SECONDS);
  let announced: string | undefined;
  server.onLine((line) => {
    announced ??= PALISADE_READY.exec(line)?.[1];
  });
  const baseUrl = await waitFor(server, 'the "Palisade listening on" line', 120_000, () =>
    Promise.resolve(announced),
  );
  const url = new URL(baseUrl);
  return runningServer(server, baseUrl, Number(url.port || (url.protocol === 'https:' ? 443 : 80)), () =>
    mintPalisadeToken(tokenArgv, { cwd: options.repoRoot, env }),
  );
}
