// Manifest GET load with wrk, a load generator in C. On this 2-core machine autocannon (Node)
// needs most of a core to generate the load, so both registries were measured against a client
// that was itself near saturation; wrk with one thread leaves more of the machine to the server.
// Same client for both registries. The bearer token goes into a 0600 Lua script in a temp dir,
// never into wrk's argv (where any user could read it in the process list).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const WRK_BINARY = 'wrk';

export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses that were not 2xx or 3xx. */
  non2xx: number;
  /** Socket errors: connect, read, write. */
  errors: number;
  timeouts: number;
}

function luaString(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]/g, '')}"`;
}

/** wrk's latency figures, e.g. "853.00us", "21.34ms", "1.02s", in milliseconds. */
export function parseWrkDuration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!match) throw new Error(`wrk printed a latency this benchmark cannot read: "${text}"`);
  const value = Number(match[1]);
  const scale = { us: 1e-3, ms: 1, s: 1e3, m: 60e3 }[match[2] as 'us' | 'ms' | 's' | 'm'];
  return value * scale;
}

/** Reads wrk's report (run with --latency). */
export function parseWrkOutput(output: string): WrkResult {
  const number = (pattern: RegExp, what: string): string => {
    const match = pattern.exec(output);
    if (!match) throw new Error(`wrk's report has no ${what}:\n${output}`);
    return match[1]!;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requestsPerSecond: Number(number(/Requests\/sec:\s+([\d.]+)/, 'Requests/sec')),
    requests: Number(number(/(\d+) requests in /, 'request count')),
    p50Ms: parseWrkDuration(number(/^\s+50%\s+(\S+)$/m, '50th percentile')),
    p99Ms: parseWrkDuration(number(/^\s+99%\s+(\S+)$/m, '99th percentile')),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0),
    errors: socket ? Number(socket[1]) + Number(socket[2]) + Number(socket[3]) : 0,
    timeouts: socket ? Number(socket[4]) : 0,
  };
}

export async function wrkLoad(options: {
  url: string;
  headers: Record<string, string>;
  connections: number;
  durationSeconds: number;
  threads?: number;
}): Promise<WrkResult> {
  const dir = await mkdtemp(join(tmpdir(), 'palisade-wrk-'));
  try {
    const script = join(dir, 'headers.lua');
    const lines = Object.entries(options.headers).map(
      ([name, value]) => `wrk.headers[${luaString(name)}] = ${luaString(value)}`,
    );
    await writeFile(script, `${lines.join('\n')}\n`, { mode: 0o600 });
    const argv = [
      `-t${options.threads ?? 1}`,
      `-c${options.connections}`,
      `-d${options.durationSeconds}s`,
      '--latency',
      '-s',
      script,
      options.url,
    ];
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(WRK_BINARY, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('error', (error) =>
        reject(
          new Error(
            `could not run ${WRK_BINARY} (apt-get install wrk, or --load-client autocannon): ${error.message}`,
          ),
        ),
      );
      child.on('close', (code) =>
        code === 0 ? resolve(stdout) : reject(new Error(`wrk exited with ${code}: ${stderr.slice(-1000)}`)),
      );
    });
    return parseWrkOutput(output);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
