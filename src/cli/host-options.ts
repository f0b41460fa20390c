// The options `serve` and host-local admin commands share: where the data lives and how the
// server is reached, so an admin command computes the same database, keys and issuer as `serve`.
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';

export interface HostFlags {
  host?: string;
  port?: string;
  dataDir?: string;
  databaseUrl?: string;
  config?: string;
  dev?: boolean;
  logLevel?: string;
}

export function addHostOptions(command: Command): Command {
  return command
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default 5000; 0 picks a free one)')
    .option('--data-dir <dir>', 'where the embedded database and blobs live (default ./palisade-data)')
    .option('--database-url <url>', 'postgres://… to use PostgreSQL instead of the embedded SQLite')
    .option('--config <file>', 'YAML configuration file (flags > PALISADE_* env > file > defaults)');
}

export function configFromFlags(flags: HostFlags): Config {
  return loadConfig({
    file: flags.config,
    flags: {
      host: flags.host,
      port: flags.port === undefined ? undefined : /^\d+$/.test(flags.port) ? Number(flags.port) : flags.port,
      dataDir: flags.dataDir,
      databaseUrl: flags.databaseUrl,
      dev: flags.dev ? true : undefined,
      logLevel: flags.logLevel,
    },
  });
}
