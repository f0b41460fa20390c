// The issuer's keys: generated on first use, private halves encrypted at rest under the KEK,
// rotated with a pre-published successor and an overlap that keeps tokens in flight valid; a
// server given the wrong KEK refuses to start with a message that says what to do.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../db/database.js';
import { createTestDatabase, testDialects, type TestDatabase } from '../db/test-databases.js';
import { configSchema } from '../config/schema.js';
import { openCore } from '../server/host-local.js';
import { KeyEncryptionKey } from './key-encryption.js';
import { SigningKeys } from './signing-keys.js';
import { IdentityStore } from './store.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

describe.each(testDialects())('signing keys (%s)', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let store: IdentityStore;
  const kek = new KeyEncryptionKey(randomBytes(32));

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = await database.open();
    store = new IdentityStore(handle.db);
  });
  afterAll(async () => {
    await handle.close();
    await database.dispose();
  });

  it('rotates: a successor is published an hour ahead, the old key stays published an hour after', async () => {
    await handle.db.deleteFrom('signing_keys').execute();
    const keys = new SigningKeys(store, kek, 7 * DAY);
    const t0 = Date.UTC(2026, 0, 1);
    expect((await keys.rotate(t0)).created).toHaveLength(1);
    const first = await keys.signingKey(t0);
    expect((await keys.jwks(t0)).keys.map((k) => k.kid)).toEqual([first.kid]);
    // Nothing to do in mid-life.
    expect(await keys.rotate(t0 + 3 * DAY)).toEqual({ created: [], deleted: 0 });

    // Within the last hour of its signing period a successor appears in the JWKS, not yet signing.
    const late = t0 + 7 * DAY - 30 * 60_000;
    const { created } = await keys.rotate(late);
    expect(created).toHaveLength(1);
    const successor = created[0]!;
    expect((await keys.jwks(late)).keys.map((k) => k.kid).sort()).toEqual([first.kid, successor].sort());
    expect((await keys.signingKey(late)).kid).toBe(first.kid);

    // After the switch the successor signs; the old key still verifies tokens in flight …
    const after = t0 + 7 * DAY + 10 * 60_000;
    expect((await keys.signingKey(after)).kid).toBe(successor);
    expect(await keys.verificationKey(first.kid, after)).toBeDefined();
    const token = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid: first.kid })
      .sign(first.key);
    const oldPublic = (await keys.verificationKey(first.kid, after))!;
    await expect(jwtVerify(token, oldPublic)).resolves.toBeDefined();

    // … until an hour (the longest token lifetime) plus skew after it retired; then it is gone.
    const gone = t0 + 7 * DAY + HOUR + 10 * 60_000;
    const rotated = await keys.rotate(gone);
    expect(rotated.deleted).toBe(1);
    expect((await keys.jwks(gone)).keys.map((k) => k.kid)).toEqual([successor]);
    expect(await keys.verificationKey(first.kid, gone)).toBeUndefined();
  });

  it('stores private keys only encrypted under the KEK, bound to their kid', async () => {
    await handle.db.deleteFrom('signing_keys').execute();
    const keys = new SigningKeys(store, kek, 7 * DAY);
    await keys.rotate();
    const row = await handle.db.selectFrom('signing_keys').selectAll().executeTakeFirstOrThrow();
    const publicJwk = JSON.parse(row.public_jwk) as Record<string, unknown>;
    expect(publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: row.kid });
    expect(publicJwk).not.toHaveProperty('d');
    expect(row.private_jwk_encrypted).toMatch(/^v1\./);
    expect(row.private_jwk_encrypted).not.toContain('"d"');
    const plain = JSON.parse(
      kek.decrypt(row.private_jwk_encrypted, `palisade-signing-key:${row.kid}`),
    ) as Record<string, unknown>;
    expect(plain.d).toEqual(expect.any(String));
    // Moved to another kid's row, the ciphertext no longer opens (the kid is authenticated data).
    expect(() => kek.decrypt(row.private_jwk_encrypted, 'palisade-signing-key:other')).toThrow();
    expect(() =>
      new KeyEncryptionKey(randomBytes(32)).decrypt(
        row.private_jwk_encrypted,
        `palisade-signing-key:${row.kid}`,
      ),
    ).toThrow();
  });

  it('refuses to start with a KEK that cannot open the stored keys, and says how to fix it', async () => {
    await handle.db.deleteFrom('signing_keys').execute();
    const dataDir = mkdtempSync(join(tmpdir(), 'palisade-kek-'));
    try {
      const config = (kekValue: string) =>
        configSchema.parse({ dataDir, databaseUrl: database.url, identity: { keyEncryptionKey: kekValue } });
      const first = await openCore(
        config(randomBytes(32).toString('base64url')),
        () => 'http://palisade.test',
      );
      await first.close();
      await expect(
        openCore(config(randomBytes(32).toString('base64url')), () => 'http://palisade.test'),
      ).rejects.toThrow(/encrypted with another key-encryption key.*identity\.keyEncryptionKey/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the generated key-encryption key', () => {
  it('is created once, 32 random bytes, readable by the owner only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-kek-file-'));
    try {
      const file = join(dir, 'keys', 'kek');
      const a = KeyEncryptionKey.load(undefined, file);
      const b = KeyEncryptionKey.load(undefined, file);
      expect(a.id).toBe(b.id);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o700);
      expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url')).toHaveLength(32);
      const sealed = a.encrypt('secret', 'ctx');
      expect(b.decrypt(sealed, 'ctx')).toBe('secret');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
