// `palisade admin …`: host-local commands for the people who run the server. They open the data
// directory or database directly (that access is the credential) and never talk to the network.
import { Command, Option } from 'commander';
import { MAX_TOKEN_TTL_SECONDS } from '../identity/tokens.js';
import { parseDuration } from '../lib/duration.js';
import { openHostLocal } from '../server/host-local.js';
import { addHostOptions, configFromFlags, type HostFlags } from './host-options.js';

interface TokenFlags extends HostFlags {
  ttl: string;
  output: 'table' | 'json';
}

export function adminCommand(): Command {
  const admin = new Command('admin').description(
    'host-local administration (needs the data directory or database of the server)',
  );
  admin.addCommand(
    addHostOptions(
      new Command('token').description(
        'print a short-lived admin access token (break-glass, for automation on the server host)',
      ),
    )
      .option('--ttl <duration>', 'lifetime, e.g. 90s, 10m, 1h (at most 1h)', '10m')
      .addOption(
        new Option('--output <format>', 'table prints the bare token')
          .choices(['table', 'json'])
          .default('table'),
      )
      .addHelpText(
        'after',
        '\nThe token is valid only for the issuer the server computes from the same settings: pass the\n' +
          'same --host/--port/--config as `palisade serve` (or set publicUrl). Example:\n' +
          '  skopeo copy --dest-creds "palisade:$(palisade admin token)" oci:./image docker://127.0.0.1:5000/acme/app:1\n',
      )
      .action(async (flags: TokenFlags) => {
        const ttl = parseDuration(flags.ttl);
        if (ttl === undefined || ttl < 1)
          throw new Error(`--ttl ${flags.ttl} is not a duration; use e.g. 90s, 10m or 1h`);
        if (ttl > MAX_TOKEN_TTL_SECONDS)
          throw new Error(`--ttl ${flags.ttl} is longer than the 1h every Palisade credential is capped at`);
        const local = await openHostLocal(configFromFlags(flags));
        try {
          const minted = await local.identity.breakGlassToken(ttl);
          const expiresAt = new Date(minted.expiresAt * 1000).toISOString();
          process.stderr.write(
            `palisade: issued a break-glass admin token (id ${minted.jti}) valid until ${expiresAt}\n`,
          );
          if (flags.output === 'json') {
            process.stdout.write(
              `${JSON.stringify({
                access_token: minted.token,
                token_type: 'Bearer',
                expires_in: minted.expiresIn,
                expires_at: expiresAt,
                issuer: local.identity.tokens.issuer,
                jti: minted.jti,
              })}\n`,
            );
          } else {
            process.stdout.write(`${minted.token}\n`);
          }
        } finally {
          await local.close();
        }
      }),
  );
  admin.addCommand(
    addHostOptions(
      new Command('enroll').description(
        'print a one-time link (15 minutes) that registers a passkey: for a new administrator, or with --user for an existing account',
      ),
    )
      .option('--user <id>', 'add a passkey to this existing user instead of creating an administrator')
      .addOption(
        new Option('--output <format>', 'table prints the bare link')
          .choices(['table', 'json'])
          .default('table'),
      )
      .action(async (flags: EnrollFlags) => {
        const local = await openHostLocal(configFromFlags(flags));
        try {
          if (flags.user !== undefined) {
            const user = await local.identity.store.findUser(local.identity.store.db, flags.user);
            if (!user) throw new Error(`no user with id ${flags.user}`);
          }
          const link = await local.identity.passkeys.createEnrollmentLink(
            flags.user === undefined ? { makeAdmin: true } : { userId: flags.user, makeAdmin: false },
          );
          const expiresAt = new Date(link.expiresAt).toISOString();
          process.stderr.write(
            `palisade: one-time enrollment link, valid until ${expiresAt}; open it in a browser\n`,
          );
          process.stdout.write(
            flags.output === 'json'
              ? `${JSON.stringify({ url: link.url, expires_at: expiresAt })}\n`
              : `${link.url}\n`,
          );
        } finally {
          await local.close();
        }
      }),
  );
  return admin;
}

interface EnrollFlags extends HostFlags {
  user?: string;
  output: 'table' | 'json';
}
