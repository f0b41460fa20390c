// How CLI commands call the server's JSON API: the server from --server or PALISADE_SERVER, the
// token from --token or PALISADE_TOKEN or `palisade auth login`'s store (renewed as needed), and
// errors turned into the server's own one-line message.
import { Option, type Command } from 'commander';
import { currentToken, serverOf } from './auth-command.js';

export interface ApiFlags {
  server?: string;
  token?: string;
  output: 'table' | 'json';
}

/** The options every API command takes: --server, --token and --output. */
export function api(command: Command): Command {
  return command
    .option('--server <url>', 'Palisade server (default $PALISADE_SERVER or http://127.0.0.1:5000)')
    .option('--token <token>', 'access token (default $PALISADE_TOKEN, else the palisade auth login one)')
    .addOption(new Option('--output <format>', 'output format').choices(['table', 'json']).default('table'));
}

/** For repeatable options (--role a --role b): commander's collector. */
export const repeatable = (value: string, previous: string[] = []): string[] => [...previous, value];

export class ApiClient {
  private constructor(
    readonly server: string,
    private readonly token: string,
  ) {}

  static async from(flags: ApiFlags): Promise<ApiClient> {
    const server = serverOf(flags);
    const token =
      flags.token ?? process.env.PALISADE_TOKEN ?? (await currentToken(server, { interactive: false }));
    return new ApiClient(server, token);
  }

  /** A GET whose body the caller streams (exports); errors as for request(). */
  async stream(path: string): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(`${this.server}${path}`, { headers: { Authorization: `Bearer ${this.token}` } });
    } catch (error) {
      const cause =
        error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      throw new Error(`cannot reach ${this.server}: ${cause}`, { cause: error });
    }
    if (!response.ok) {
      const data = (await response.json().catch(() => ({}))) as {
        errors?: { code: string; message: string }[];
      };
      const error = data.errors?.[0];
      throw new Error(error ? `${error.message} (${error.code})` : `the server answered ${response.status}`);
    }
    return response;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.server}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${this.token}`,
          Accept: 'application/json',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      const cause =
        error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      throw new Error(`cannot reach ${this.server}: ${cause}`, { cause: error });
    }
    if (response.status === 204) return undefined as T;
    const data = (await response.json().catch(() => ({}))) as {
      errors?: { code: string; message: string }[];
    } & Record<string, unknown>;
    if (!response.ok) {
      const error = data.errors?.[0];
      throw new Error(error ? `${error.message} (${error.code})` : `the server answered ${response.status}`);
    }
    return data as T;
  }
}

/** Prints rows as aligned columns, or the raw value as JSON. */
export function print(output: 'table' | 'json', value: unknown, rows?: Record<string, unknown>[]): void {
  if (output === 'json' || rows === undefined) {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const columns = Object.keys(rows[0]!);
  const cell = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    if (Array.isArray(v)) return v.map(cell).join(' ');
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return JSON.stringify(v);
  };

  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(columns.map((c) => c.toUpperCase()))}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((c) => cell(row[c])))}\n`);
}
