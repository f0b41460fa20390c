// Where the CLI keeps what `palisade auth login` obtained: one JSON file per user, readable by
// that user only (0600 in a 0700 directory), holding per server a short-lived access token and
// the rotating refresh token. Writes go to a temp file first and are renamed into place.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface StoredCredential {
  access_token: string;
  /** Seconds since the epoch. */
  expires_at: number;
  refresh_token?: string;
  scope?: string;
}

type CredentialFile = Record<string, StoredCredential>;

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'palisade', 'credentials.json');
}

function readAll(path: string): CredentialFile {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as CredentialFile) : {};
  } catch {
    return {};
  }
}

function writeAll(path: string, data: CredentialFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

export function loadCredential(server: string, path = credentialsPath()): StoredCredential | undefined {
  return readAll(path)[server];
}

export function saveCredential(server: string, credential: StoredCredential, path = credentialsPath()): void {
  const all = readAll(path);
  all[server] = credential;
  writeAll(path, all);
}

export function deleteCredential(server: string, path = credentialsPath()): boolean {
  const all = readAll(path);
  if (!(server in all)) return false;
  delete all[server];
  writeAll(path, all);
  return true;
}
