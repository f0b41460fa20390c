// Envelope encryption for the issuer's private signing keys: AES-256-GCM under a key-encryption
// key (KEK) that never enters the database. The KEK comes from configuration, or for the
// embedded default is generated once into the data directory with mode 0600.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, writeSync, closeSync, fsyncSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../lib/errors.js';

const FORMAT = 'v1';

export class KeyEncryptionKey {
  readonly #key: Buffer;
  /** A fingerprint stored beside each ciphertext, so a wrong KEK is named as such. */
  readonly id: string;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new ConfigError('the key-encryption key must be exactly 32 bytes');
    this.#key = Buffer.from(key);
    this.id = createHash('sha256').update('palisade-kek-id').update(key).digest('base64url').slice(0, 16);
  }

  /** From configuration (base64 or base64url) or, when absent, the generated file. */
  static load(configured: string | undefined, file: string): KeyEncryptionKey {
    if (configured !== undefined) return new KeyEncryptionKey(Buffer.from(configured, 'base64url'));
    return new KeyEncryptionKey(readOrCreateKeyFile(file));
  }

  encrypt(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      FORMAT,
      iv.toString('base64url'),
      body.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.');
  }

  /** Throws when the ciphertext was not made by this KEK for this context (or was altered). */
  decrypt(sealed: string, context: string): string {
    const [format, iv, body, tag] = sealed.split('.');
    if (format !== FORMAT || !iv || body === undefined || !tag) throw new Error('unknown ciphertext format');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }
}

function readOrCreateKeyFile(file: string): Buffer {
  try {
    return decodeKeyFile(readFileSync(file, 'utf8'), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  let fd: number;
  try {
    // 'wx': if another process created it first, use theirs rather than overwrite it.
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      return decodeKeyFile(readFileSync(file, 'utf8'), file);
    throw error;
  }
  try {
    writeSync(fd, `${key.toString('base64url')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return key;
}

function decodeKeyFile(text: string, file: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== 32) {
    throw new ConfigError(`the key-encryption key file ${file} does not hold 32 base64url bytes`);
  }
  return key;
}
