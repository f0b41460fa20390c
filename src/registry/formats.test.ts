// Unit tables for the registry's grammar checks: digests, repository names, tags, manifests, JSON depth.
import { describe, expect, it } from 'vitest';
import { JsonTooDeepError, parseBoundedJson } from '../lib/bounded-json.js';
import { digestOf, parseDigest } from '../lib/digest.js';
import { KeyedMutex } from '../lib/keyed-mutex.js';
import { MediaTypes, parseManifest } from './manifest.js';
import { isValidRepositoryName, isValidTag } from './names.js';

const sha = digestOf(Buffer.from('x'));

describe('digests', () => {
  it.each([
    [sha, 'object'],
    [digestOf(Buffer.from('x'), 'sha512'), 'object'],
    ['sha256:' + 'a'.repeat(63), 'invalid'],
    ['sha256:' + 'A'.repeat(64), 'invalid'],
    ['sha512:' + 'a'.repeat(64), 'invalid'],
    ['md5:d41d8cd98f00b204e9800998ecf8427e', 'unsupported'],
    ['sha384:' + 'a'.repeat(96), 'unsupported'],
    ['sha256', 'invalid'],
    ['', 'invalid'],
    ['SHA256:' + 'a'.repeat(64), 'invalid'],
  ])('%s → %s', (value, expected) => {
    const parsed = parseDigest(value);
    expect(typeof parsed === 'object' ? 'object' : parsed).toBe(expected);
  });
});

describe('repository names', () => {
  it.each(['a', 'library/ubuntu', 'a.b_c__d-e--f/g', 'a0/b1/c2', 'x'.repeat(255)])('accepts %s', (name) =>
    expect(isValidRepositoryName(name)).toBe(true),
  );
  it.each([
    '',
    'A',
    'a/',
    '/a',
    'a//b',
    '..',
    'a/../b',
    '.a',
    'a.',
    'a___b',
    'a/-b',
    'café',
    'x'.repeat(256),
    'a b',
    'a%2fb',
  ])('refuses %j', (name) => expect(isValidRepositoryName(name)).toBe(false));
});

describe('tags', () => {
  it.each(['latest', 'v1.2.3', '_under', 'A-b_c.d', 'x'.repeat(128)])('accepts %s', (tag) =>
    expect(isValidTag(tag)).toBe(true),
  );
  it.each(['', '.dot', '-dash', 'x'.repeat(129), 'a/b', 'a:b', 'é'])('refuses %j', (tag) =>
    expect(isValidTag(tag)).toBe(false),
  );
});

describe('bounded JSON', () => {
  it('parses ordinary documents, including brackets inside strings', () => {
    expect(parseBoundedJson('{"a":"[[[[\\"]]]","b":[1,[2]]}')).toEqual({ a: '[[[["]]]', b: [1, [2]] });
  });
  it('refuses documents nested deeper than the limit before parsing them', () => {
    expect(() => parseBoundedJson('['.repeat(65) + ']'.repeat(65))).toThrow(JsonTooDeepError);
    expect(() => parseBoundedJson('['.repeat(64) + ']'.repeat(64))).not.toThrow();
  });
});

describe('parseManifest', () => {
  const descriptor = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha, size: 1 };
  const manifest = (extra: object) =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: { ...descriptor, mediaType: 'application/vnd.oci.image.config.v1+json' },
        layers: [descriptor],
        ...extra,
      }),
    );

  it('takes the media type from Content-Type or the body, and lists references', () => {
    const parsed = parseManifest(manifest({}), MediaTypes.ociManifest);
    expect(parsed.mediaType).toBe(MediaTypes.ociManifest);
    expect(parsed.artifactType).toBe('application/vnd.oci.image.config.v1+json');
    expect(parsed.blobs.map((b) => b.digest)).toEqual([sha, sha]);
    expect(parseManifest(manifest({ mediaType: MediaTypes.ociManifest }), undefined).mediaType).toBe(
      MediaTypes.ociManifest,
    );
  });

  it('refuses a body whose mediaType contradicts Content-Type', () => {
    expect(() => parseManifest(manifest({ mediaType: MediaTypes.ociIndex }), MediaTypes.ociManifest)).toThrow(
      /does not match/,
    );
  });

  it('requires artifactType with the empty config', () => {
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: MediaTypes.ociEmpty, digest: sha, size: 2 },
        layers: [],
      }),
    );
    expect(() => parseManifest(body, MediaTypes.ociManifest)).toThrow(/artifactType/);
  });

  it('names the field that fails the schema', () => {
    expect(() =>
      parseManifest(manifest({ layers: [{ ...descriptor, size: -1 }] }), MediaTypes.ociManifest),
    ).toThrow(/layers\.0\.size/);
  });

  it('requires Docker manifests to carry their mediaType', () => {
    expect(() => parseManifest(manifest({}), MediaTypes.dockerManifest)).toThrow(/must carry/);
  });
});

describe('KeyedMutex', () => {
  it('serialises work on one key and lets other keys run', async () => {
    const mutex = new KeyedMutex();
    const order: string[] = [];
    const slow = (label: string, ms: number) => async () => {
      order.push(`${label}+`);
      await new Promise((r) => setTimeout(r, ms));
      order.push(`${label}-`);
    };
    await Promise.all([
      mutex.run('k', slow('a', 20)),
      mutex.run('k', slow('b', 1)),
      mutex.run('other', slow('c', 1)),
    ]);
    expect(order.indexOf('a-')).toBeLessThan(order.indexOf('b+'));
    expect(order.indexOf('c-')).toBeLessThan(order.indexOf('a-'));
  });
  it('releases the key when the work throws', async () => {
    const mutex = new KeyedMutex();
    await expect(mutex.run('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(mutex.run('k', () => Promise.resolve(1))).resolves.toBe(1);
  });
});
