// `palisade auth login|token|logout`: people sign the CLI in through the browser (device flow,
// approved with a passkey or SSO), keep a short-lived access token plus a rotating refresh token
// in a 0600 file, print a valid token on demand, and revoke both on logout.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { deleteCredential, loadCredential, saveCredential, type StoredCredential } from './credentials.js';
import {
  exchangeWorkloadToken,
  normalizeServer,
  OAuthClientError,
  pollDeviceFlow,
  refreshCredential,
  revokeToken,
  startDeviceFlow,
} from './oauth-client.js';

const DEFAULT_SERVER = 'http://127.0.0.1:5000';
/** A stored token this close to expiry is refreshed first. */
const MIN_REMAINING_S = 60;

interface ServerFlags {
  server?: string;
  output: 'table' | 'json';
}

export function serverOf(flags: { server?: string }): string {
  return normalizeServer(flags.server ?? process.env.PALISADE_SERVER ?? DEFAULT_SERVER);
}

function withServer(command: Command): Command {
  return command
    .option('--server <url>', `Palisade server (default $PALISADE_SERVER or ${DEFAULT_SERVER})`)
    .addOption(new Option('--output <format>', 'output format').choices(['table', 'json']).default('table'));
}

/** Runs the device flow, telling the person where to approve it (on stderr: stdout stays clean). */
export async function deviceLogin(
  server: string,
  scope: string,
  clientId?: string,
): Promise<StoredCredential> {
  const start = await startDeviceFlow(server, scope, clientId);
  process.stderr.write(
    `To sign in, open ${start.verification_uri_complete ?? start.verification_uri}\n` +
      `and check that the page shows the code ${start.user_code}. Waiting for approval (Ctrl-C to cancel)…\n`,
  );
  const credential = await pollDeviceFlow(server, start, clientId);
  saveCredential(server, credential);
  return credential;
}

/**
 * A currently valid access token for `server`: the stored one, else one from the refresh token,
 * else (only when a person is at the terminal) a new sign-in.
 */
export async function currentToken(server: string, options: { interactive: boolean }): Promise<string> {
  const stored = loadCredential(server);
  const now = Math.floor(Date.now() / 1000);
  if (stored && stored.expires_at - now > MIN_REMAINING_S) return stored.access_token;
  if (stored?.refresh_token) {
    try {
      const fresh = await refreshCredential(server, stored.refresh_token);
      saveCredential(server, fresh);
      return fresh.access_token;
    } catch (error) {
      if (!(error instanceof OAuthClientError)) throw error;
      deleteCredential(server);
    }
  }
  if (!options.interactive)
    throw new Error(
      `not signed in to ${server} (or the sign-in expired); run palisade auth login --server ${server}`,
    );
  return (await deviceLogin(server, stored?.scope ?? 'registry api')).access_token;
}

/** A machine signs in with its own OIDC token (CI job, pod): no browser, nothing stored but the result. */
async function workloadLogin(
  server: string,
  flags: ServerFlags & { identity?: string; identityToken?: string },
): Promise<void> {
  if (!flags.identity || !flags.identityToken) {
    throw new Error('give both --identity <id> and --identity-token <file|->');
  }
  const subjectToken = (
    flags.identityToken === '-' ? readFileSync(0, 'utf8') : readFileSync(flags.identityToken, 'utf8')
  ).trim();
  if (!subjectToken) throw new Error('the identity token is empty');
  const credential = await exchangeWorkloadToken(server, flags.identity, subjectToken);
  saveCredential(server, credential);
  const expiresAt = new Date(credential.expires_at * 1000).toISOString();
  if (flags.output === 'json') {
    process.stdout.write(
      `${JSON.stringify({ server, identity: flags.identity, access_token: credential.access_token, expires_at: expiresAt })}\n`,
    );
  } else {
    process.stdout.write(`Signed in to ${server} as identity ${flags.identity} until ${expiresAt}.\n`);
  }
}

export function authCommand(): Command {
  const auth = new Command('auth').description(
    'sign the CLI in to a Palisade server and get short-lived tokens',
  );
  auth.addCommand(
    withServer(
      new Command('login').description(
        'sign in through your browser (device code; approve with a passkey or SSO)',
      ),
    )
      .option(
        '--scope <scopes>',
        'space-separated scopes: registry, api, admin (admin only for administrators)',
        'registry api',
      )
      .option('--identity <id>', 'as a workload: the identity (trust policy) to assume, instead of a person')
      .option(
        '--identity-token <file>',
        "as a workload: a file holding the platform's OIDC token (- reads standard input)",
      )
      .action(async (flags: ServerFlags & { scope: string; identity?: string; identityToken?: string }) => {
        const server = serverOf(flags);
        if (flags.identity !== undefined || flags.identityToken !== undefined) {
          await workloadLogin(server, flags);
          return;
        }
        const credential = await deviceLogin(server, flags.scope);
        const expiresAt = new Date(credential.expires_at * 1000).toISOString();
        if (flags.output === 'json') {
          process.stdout.write(
            `${JSON.stringify({ server, scope: credential.scope ?? '', expires_at: expiresAt })}\n`,
          );
        } else {
          process.stdout.write(
            `Signed in to ${server} (scope: ${credential.scope ?? ''}); the access token is renewed automatically.\n`,
          );
        }
      }),
  );
  auth.addCommand(
    withServer(
      new Command('token').description(
        'print a valid access token (renewing it, or signing in again, when needed)',
      ),
    ).action(async (flags: ServerFlags) => {
      const server = serverOf(flags);
      const token = await currentToken(server, {
        interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
      });
      if (flags.output === 'json') {
        const stored = loadCredential(server);
        process.stdout.write(
          `${JSON.stringify({ server, access_token: token, expires_at: stored ? new Date(stored.expires_at * 1000).toISOString() : null })}\n`,
        );
      } else {
        process.stdout.write(`${token}\n`);
      }
    }),
  );
  auth.addCommand(
    withServer(
      new Command('logout').description('revoke the stored tokens on the server and delete them here'),
    ).action(async (flags: ServerFlags) => {
      const server = serverOf(flags);
      const stored = loadCredential(server);
      if (stored) {
        // Revoke first: a copy of the file elsewhere must not keep working.
        if (stored.refresh_token) await revokeToken(server, stored.refresh_token);
        await revokeToken(server, stored.access_token);
        deleteCredential(server);
      }
      if (flags.output === 'json')
        process.stdout.write(`${JSON.stringify({ server, signed_out: Boolean(stored) })}\n`);
      else process.stdout.write(stored ? `Signed out of ${server}.\n` : `Not signed in to ${server}.\n`);
    }),
  );
  return auth;
}
