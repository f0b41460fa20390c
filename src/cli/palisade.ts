#!/usr/bin/env node
// The `palisade` command. Subcommands live in their own modules; this file wires them up and
// turns any failure into one line on stderr and exit code 1.
import { Command, CommanderError } from 'commander';
import { adminCommand } from './admin-command.js';
import { authCommand } from './auth-command.js';
import { iamCommand } from './iam-command.js';
import { auditCommand, eventsCommand } from './events-command.js';
import { scanCommand, sbomCommand } from './scan-command.js';
import { serveCommand } from './serve-command.js';
import { vulndbCommand } from './vulndb-command.js';
import { PALISADE_VERSION } from '../lib/version.js';

const program = new Command()
  .name('palisade')
  .description('Palisade: a secure-by-design OCI registry and supply-chain security platform')
  .version(PALISADE_VERSION)
  .showHelpAfterError()
  .exitOverride();

program.addCommand(serveCommand());
program.addCommand(adminCommand());
program.addCommand(authCommand());
program.addCommand(iamCommand());
program.addCommand(eventsCommand());
program.addCommand(auditCommand());
program.addCommand(scanCommand());
program.addCommand(sbomCommand());
program.addCommand(vulndbCommand());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`palisade: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
