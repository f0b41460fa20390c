// `palisade serve`: loads configuration, starts the server, prints the ready line, and shuts
// down cleanly on SIGTERM/SIGINT (in-flight requests finish; a second signal forces exit).
import { Command, Option } from 'commander';
import type { AddressInfo } from 'node:net';
import { createServer } from '../server/server.js';
import { addHostOptions, configFromFlags, type HostFlags } from './host-options.js';

export function serveCommand(): Command {
  return addHostOptions(
    new Command('serve').description(
      'start the Palisade server (embedded defaults: SQLite + blobs under ./palisade-data)',
    ),
  )
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
    .action(async (flags: HostFlags) => {
      const config = configFromFlags(flags);
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
