// The issuer's signing keys: generated here (ES256), stored with the private half encrypted
// under the KEK, rotated on a schedule. A successor is published in the JWKS an hour before it
// starts signing, and a retired key stays published for the longest token lifetime after it
// stops, so every token in flight and every verifier's cached JWKS stay valid across a rotation.
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import type { SigningKeysTable } from '../db/schema.js';
import type { KeyEncryptionKey } from './key-encryption.js';
import type { IdentityStore } from './store.js';

export const SIGNING_ALGORITHM = 'ES256';
/** Longest any token Palisade issues can live, plus clock skew: how long a retired key stays published. */
const MAX_TOKEN_LIFETIME_MS = 3600_000;
const SKEW_MS = 5 * 60_000;
const PREPUBLISH_MS = 3600_000;
/** Verifiers re-read the key table at most this often, and on an unknown kid at most once a second. */
const CACHE_MS = 60_000;
const UNKNOWN_KID_BACKOFF_MS = 1_000;

export interface RotationResult {
  created: string[];
  deleted: number;
}

interface LoadedKey {
  row: SigningKeysTable;
  publicKey?: CryptoKey;
  privateKey?: CryptoKey;
}

export class SigningKeys {
  #keys: LoadedKey[] = [];
  #loadedAt = -Infinity;
  #lastMiss = -Infinity;

  constructor(
    private readonly store: IdentityStore,
    private readonly kek: KeyEncryptionKey,
    private readonly rotationMs: number,
  ) {}

  /** Makes sure a key signs now and its successor is published in time; drops expired keys. */
  async rotate(now = Date.now()): Promise<RotationResult> {
    const result: RotationResult = { created: [], deleted: 0 };
    await this.store.transaction(async (trx) => {
      result.deleted = await this.store.deleteExpiredKeys(trx, now);
      const keys = await this.store.publishedKeys(trx, now);
      let active = pickActive(keys, now);
      if (!active) {
        active = await this.#create(now);
        await this.store.insertKey(trx, active);
        result.created.push(active.kid);
      }
      const hasSuccessor = keys.some((k) => k.activates_at > active.activates_at);
      if (!hasSuccessor && active.retires_at - now <= PREPUBLISH_MS) {
        const next = await this.#create(active.retires_at);
        await this.store.insertKey(trx, next);
        result.created.push(next.kid);
      }
    });
    await this.#reload(now);
    return result;
  }

  async #create(activatesAt: number): Promise<SigningKeysTable> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = await exportJWK(privateKey);
    const retiresAt = activatesAt + this.rotationMs;
    return {
      kid,
      alg: SIGNING_ALGORITHM,
      public_jwk: JSON.stringify({ ...publicJwk, kid, alg: SIGNING_ALGORITHM, use: 'sig' }),
      private_jwk_encrypted: this.kek.encrypt(JSON.stringify(privateJwk), sealContext(kid)),
      kek_id: this.kek.id,
      created_at: Date.now(),
      activates_at: activatesAt,
      retires_at: retiresAt,
      expires_at: retiresAt + MAX_TOKEN_LIFETIME_MS + SKEW_MS,
    };
  }

  async #reload(now: number): Promise<void> {
    const rows = await this.store.publishedKeys(this.store.db, now);
    const previous = new Map(this.#keys.map((k) => [k.row.kid, k]));
    this.#keys = rows.map((row) => previous.get(row.kid) ?? { row });
    this.#loadedAt = now;
  }

  async #fresh(now: number): Promise<LoadedKey[]> {
    if (now - this.#loadedAt > CACHE_MS) await this.#reload(now);
    return this.#keys;
  }

  /** The key to sign with now, decrypted on first use. */
  async signingKey(now = Date.now()): Promise<{ kid: string; key: CryptoKey }> {
    let loaded = (await this.#fresh(now)).find(
      (k) =>
        k.row ===
        pickActive(
          this.#keys.map((x) => x.row),
          now,
        ),
    );
    if (!loaded) {
      await this.rotate(now);
      loaded = this.#keys.find(
        (k) =>
          k.row ===
          pickActive(
            this.#keys.map((x) => x.row),
            now,
          ),
      );
      if (!loaded) throw new Error('no signing key is active');
    }
    if (!loaded.privateKey) {
      const row = loaded.row;
      if (row.kek_id !== this.kek.id) {
        throw new Error(
          `signing key ${row.kid} was encrypted with another key-encryption key (${row.kek_id}, this server has ${this.kek.id}); give every server the same identity.keyEncryptionKey`,
        );
      }
      const jwk = JSON.parse(this.kek.decrypt(row.private_jwk_encrypted, sealContext(row.kid))) as JWK;
      loaded.privateKey = (await importJWK(jwk, row.alg)) as CryptoKey;
    }
    return { kid: loaded.row.kid, key: loaded.privateKey };
  }

  /** The public key for `kid`, re-reading the table (rate-limited) when it is unknown. */
  async verificationKey(kid: string, now = Date.now()): Promise<CryptoKey | undefined> {
    let loaded = (await this.#fresh(now)).find((k) => k.row.kid === kid);
    if (!loaded && now - this.#lastMiss >= UNKNOWN_KID_BACKOFF_MS) {
      this.#lastMiss = now;
      await this.#reload(now);
      loaded = this.#keys.find((k) => k.row.kid === kid);
    }
    if (!loaded || loaded.row.expires_at <= now) return undefined;
    loaded.publicKey ??= (await importJWK(
      JSON.parse(loaded.row.public_jwk) as JWK,
      loaded.row.alg,
    )) as CryptoKey;
    return loaded.publicKey;
  }

  /** The public JWKS: every key not yet expired, including a pre-published successor. */
  async jwks(now = Date.now()): Promise<{ keys: JWK[] }> {
    const keys = await this.#fresh(now);
    return {
      keys: keys.filter((k) => k.row.expires_at > now).map((k) => JSON.parse(k.row.public_jwk) as JWK),
    };
  }
}

function pickActive(keys: SigningKeysTable[], now: number): SigningKeysTable | undefined {
  let best: SigningKeysTable | undefined;
  for (const key of keys) {
    if (key.activates_at > now || key.retires_at <= now) continue;
    if (
      !best ||
      key.activates_at > best.activates_at ||
      (key.activates_at === best.activates_at && key.kid > best.kid)
    ) {
      best = key;
    }
  }
  return best;
}

function sealContext(kid: string): string {
  return `palisade-signing-key:${kid}`;
}
