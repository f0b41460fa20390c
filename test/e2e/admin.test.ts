// `palisade admin token`, the host-local break-glass: it needs the server's data (not the
// network), caps lifetimes at an hour with a one-line refusal, prints a bare token or JSON, and
// the token it prints is accepted by the running server.
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startServer, stopAllServers, TempDirs } from './harness.js';

const temp = new TempDirs();
afterAll(async () => {
  await stopAllServers();
  temp.removeAll();
});

describe('palisade admin token', () => {
  it('explains itself with --help', async () => {
    const help = await runCli(['admin', 'token', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: palisade admin token /);
    for (const flag of ['--ttl', '--output', '--data-dir', '--database-url', '--config', '--port']) {
      expect(help.stdout).toContain(flag);
    }
  });

  it('refuses lifetimes over an hour and non-durations with one line, minting nothing', async () => {
    const dataDir = temp.make();
    for (const ttl of ['2h', '3601', 'banana', '0']) {
      const result = await runCli(['admin', 'token', '--data-dir', dataDir, '--ttl', ttl]);
      expect(result.code, ttl).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n'), ttl).toHaveLength(1);
      expect(result.stderr).toContain(`--ttl ${ttl}`);
    }
  });

  it('prints a token the running server accepts; --output json adds its lifetime', async () => {
    const server = await startServer();
    const args = ['admin', 'token', '--data-dir', server.dataDir, '--output', 'json', '--ttl', '90s'];
    const result = await runCli(args, server.env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /^palisade: issued a break-glass admin token \(id [0-9a-f-]{36}\) valid until /,
    );
    const out = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ token_type: 'Bearer', expires_in: 90, issuer: 'http://palisade.e2e' });
    const token = out.access_token as string;
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      exp: number;
      iat: number;
    };
    expect(claims.exp - claims.iat).toBe(90);
    const base = await fetch(`${server.url}/v2/`, { headers: { Authorization: `Bearer ${token}` } });
    expect(base.status).toBe(200);
    // Minted for another issuer (no public URL: http://127.0.0.1:5000), the server refuses it.
    const { PALISADE_PUBLIC_URL: _publicUrl, ...withoutPublicUrl } = server.env;
    const other = await runCli(['admin', 'token', '--data-dir', server.dataDir], withoutPublicUrl);
    expect(other.code).toBe(0);
    const refused = await fetch(`${server.url}/v2/`, {
      headers: { Authorization: `Bearer ${other.stdout.trim()}` },
    });
    expect(refused.status).toBe(401);
    expect(await server.stop()).toBe(0);
  });
});
