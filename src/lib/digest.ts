// Content digests (OCI image-spec "Digests"): parsing, validation and streaming hashers.
// Only sha256 and sha512 are registered algorithms; anything else is refused early so that
// nothing unverifiable is ever stored.
import { createHash, type Hash } from 'node:crypto';

export type DigestAlgorithm = 'sha256' | 'sha512';

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// Grammar from the image spec: algorithm ":" encoded, before algorithm-specific checks.
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
  digest: string;
}

export type DigestProblem = 'invalid' | 'unsupported';

/** Parses a digest string; returns the reason when it is not a usable digest. */
export function parseDigest(value: string): ParsedDigest | DigestProblem {
  if (value.length > 7 + 128 || !DIGEST_GRAMMAR.test(value)) return 'invalid';
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return 'unsupported';
  if (hex.length !== ENCODED_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) return 'invalid';
  return { algorithm, hex, digest: value };
}

export function isDigest(value: string): boolean {
  return typeof parseDigest(value) === 'object';
}

export function digestOf(data: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export function newHasher(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}
