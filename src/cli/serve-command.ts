// `palisade serve`: loads configuration, starts the server, prints the ready line, and shuts
// down cleanly on SIGTERM/SIGINT (in-flight requests finish; a second signal forces exit).
import { Command, Option } from 'commander';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../config/load.js';
import { createServer } from '../server/server.js';

interface ServeFlags {
  host?: string;
  port?: string;
  dataDir?: string;
  databaseUrl?: string;
  config?: string;
  dev?: boolean;
  logLevel?: string;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('start the Palisade server (embedded defaults: SQLite + blobs under ./palisade-data)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default 5000; 0 picks a free one)')
    .option('--data-dir <dir>', 'where the embedded database and blobs live (default ./palisade-data)')
    .option('--database-url <url>', 'postgres://… to use PostgreSQL instead of the embedded SQLite')
    .option('--config <file>', 'YAML configuration file (flags > PALISADE_* env > file > defaults)')
    .option('--dev', 'development mode: relaxes production-only rules, and says so')
    .addOption(
      new Option('--log-level <level>', 'log level').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    )
    .action(async (flags: ServeFlags) => {
      const config = loadConfig({
        file: flags.config,
        flags: {
          host: flags.host,
          port: flags.port === undefined ? undefined : parsePort(flags.port),
          dataDir: flags.dataDir,
          databaseUrl: flags.databaseUrl,
          dev: flags.dev ? true : undefined,
          logLevel: flags.logLevel,
        },
      });
      const server = await createServer(config);
      if (config.dev) {
        server.app.log.warn(
          'DEVELOPMENT MODE: rules meant for production are relaxed; do not expose this server',
        );
      }
      // Handlers go in before the ready line: a supervisor may signal the moment it sees it.
      let closing = false;
      const shutdown = (signal: string) => {
        if (closing) {
          process.stderr.write(`palisade: second ${signal}, exiting now\n`);
          process.exit(1);
        }
        closing = true;
        server.app.log.info({ signal }, 'shutting down; finishing in-flight requests');
        const timer = setTimeout(() => {
          process.stderr.write('palisade: shutdown timed out, exiting\n');
          process.exit(1);
        }, config.shutdownTimeoutSeconds * 1000);
        timer.unref();
        server.close().then(
          () => process.exit(0),
          (error: unknown) => {
            process.stderr.write(
              `palisade: shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`,
            );
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
      await server.listen();
      const address = server.app.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      process.stdout.write(`Palisade listening on http://${host}:${address.port}\n`);
    });
}

function parsePort(value: string): number | string {
  return /^\d+$/.test(value) ? Number(value) : value;
}
