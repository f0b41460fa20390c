// Image names as `palisade scan` and `palisade sbom` accept them: with or without a registry host,
// by tag or by digest, `latest` when neither is given.
import { describe, expect, it } from 'vitest';
import { parseImageName } from './scan-command.js';

const digest = `sha256:${'a'.repeat(64)}`;

describe('parseImageName', () => {
  it.each([
    ['acme/app:1.0', { repository: 'acme/app', reference: '1.0' }],
    ['acme/app', { repository: 'acme/app', reference: 'latest' }],
    [`acme/app@${digest}`, { repository: 'acme/app', reference: digest }],
    ['127.0.0.1:5000/acme/app:1.0', { repository: 'acme/app', reference: '1.0' }],
    [`registry.example.com/acme/team/app@${digest}`, { repository: 'acme/team/app', reference: digest }],
    ['localhost/acme/app', { repository: 'acme/app', reference: 'latest' }],
    ['app:v2', { repository: 'app', reference: 'v2' }],
  ])('%s', (text, expected) => {
    expect(parseImageName(text)).toEqual(expected);
  });

  it('refuses an empty name with what to type instead', () => {
    expect(() => parseImageName('  ')).toThrow('give an image, e.g. acme/app:1.0 or acme/app@sha256:…');
  });
});
