#!/usr/bin/env node
// docker-credential-palisade: the Docker credential-helper protocol (get, store, erase, list)
// for registry clients (docker, podman, skopeo, buildah via "credHelpers" in auth.json). `get`
// answers with a fresh short-lived access token from `palisade auth login`'s store, so no
// long-lived secret ever lands in auth.json; `store` refuses to keep what a client hands over.
import { readFileSync } from 'node:fs';
import { credentialsPath, deleteCredential, loadCredential } from './credentials.js';
import { currentToken } from './auth-command.js';
import { normalizeServer, revokeToken } from './oauth-client.js';

const USAGE = `Usage: docker-credential-palisade get|store|erase|list

A Docker credential helper backed by "palisade auth login". Configure it per registry in
~/.config/containers/auth.json (podman, skopeo, buildah) or ~/.docker/config.json (docker):
  { "credHelpers": { "registry.example.com": "palisade" } }
get    reads a registry host on stdin, prints {"ServerURL","Username","Secret"} with a fresh token
store  refuses: sign in with "palisade auth login --server URL" instead
erase  reads a registry host on stdin, revokes and forgets its tokens
list   prints the registries signed in to
`;

/** Stored servers keyed by origin; registry clients name them by host[:port]. */
function storedServers(): string[] {
  try {
    return Object.keys(JSON.parse(readFileSync(credentialsPath(), 'utf8')) as Record<string, unknown>);
  } catch {
    return [];
  }
}

function serverFor(registry: string): string | undefined {
  const trimmed = registry.trim();
  if (/^https?:\/\//.test(trimmed)) return normalizeServer(trimmed);
  return storedServers().find((origin) => new URL(origin).host === trimmed);
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8').slice(0, 4096);
  } catch {
    return '';
  }
}

async function main(argv: string[]): Promise<number> {
  const action = argv[0];
  if (action === 'get') {
    const registry = readStdin().trim();
    const server = serverFor(registry);
    if (!server) {
      process.stdout.write('credentials not found in native keychain\n');
      return 1;
    }
    const token = await currentToken(server, { interactive: false });
    process.stdout.write(`${JSON.stringify({ ServerURL: registry, Username: 'palisade', Secret: token })}\n`);
    return 0;
  }
  if (action === 'store') {
    readStdin();
    process.stderr.write(
      'docker-credential-palisade: not storing credentials; run "palisade auth login --server URL" instead\n',
    );
    return 1;
  }
  if (action === 'erase') {
    const server = serverFor(readStdin());
    if (server) {
      const stored = loadCredential(server);
      if (stored?.refresh_token) await revokeToken(server, stored.refresh_token).catch(() => undefined);
      if (stored) await revokeToken(server, stored.access_token).catch(() => undefined);
      deleteCredential(server);
    }
    return 0;
  }
  if (action === 'list') {
    const list = Object.fromEntries(storedServers().map((origin) => [new URL(origin).host, 'palisade']));
    process.stdout.write(`${JSON.stringify(list)}\n`);
    return 0;
  }
  process.stderr.write(USAGE);
  return action === '--help' || action === '-h' ? 0 : 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(
    `docker-credential-palisade: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
}
