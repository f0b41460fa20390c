// eventText writes the envelope in sorted order by hand: it must equal the general serialiser's
// text for every shape an event takes (with and without subject and org, no request, unicode,
// actors remembered with their text or not), and refuse what the serialiser refuses.
import { describe, expect, it } from 'vitest';
import { canonicalJson, CanonicalJsonError, withCanonicalText } from '../lib/canonical-json.js';
import { eventJson, eventText, type EventFields } from './event-text.js';

const base: EventFields = {
  id: '019a6a4e-7c1b-7a3f-9d2e-0123456789ab',
  source: 'https://registry.example/v2/acme/app/manifests/v1',
  type: 'dev.palisade.registry.manifest.pushed.v1',
  subject: 'acme/app@sha256:abc',
  time: '2026-11-26T10:00:00.000Z',
  actor: {
    subject: 'user:alice',
    kind: 'user',
    act: { iss: 'https://idp', amr: ['hwk'], acr: 'mfa' },
  } as never,
  org: 'acme',
  request: { id: 'req-1', ip: '127.0.0.1', user_agent: 'skopeo/1.13' },
  outcome: 'success',
  body: {
    repository: 'acme/app',
    digest: 'sha256:abc',
    size: 1234,
    tags: ['v1', 'latest'],
    nested: { z: 1, a: [null] },
  },
};

describe('eventText', () => {
  const variants: [string, Partial<EventFields>][] = [
    ['every member', {}],
    ['no subject, no org', { subject: undefined, org: undefined }],
    ['empty subject and org are left out too', { subject: '', org: '' }],
    ['no request (work outside a request)', { request: null }],
    ['no body', { body: null }],
    ['a failure', { outcome: 'failure' }],
    ['unicode and escapes', { subject: 'acme/ä€𝄞"\\\n', body: { ключ: 'значение', '\u0001': '\u007f' } }],
    [
      'a remembered actor',
      { actor: withCanonicalText({ subject: 'system:palisade', kind: 'system', act: {} }) },
    ],
  ];
  it.each(variants)('equals canonicalJson of the event object: %s', (_name, change) => {
    const fields = { ...base, ...change };
    const text = eventText(fields);
    expect(text).toBe(canonicalJson(eventJson(fields)));
    // And it is the CloudEvent it claims to be.
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(parsed.specversion).toBe('1.0');
    expect(parsed.datacontenttype).toBe('application/json');
    expect('subject' in parsed).toBe(Boolean(fields.subject));
    expect('org' in parsed).toBe(Boolean(fields.org));
  });

  it('refuses what canonical JSON cannot hold, in any member', () => {
    expect(() => eventText({ ...base, subject: 'bad\ud800' })).toThrow(CanonicalJsonError);
    expect(() => eventText({ ...base, type: 'x\udc00' })).toThrow(CanonicalJsonError);
    expect(() => eventText({ ...base, body: { size: NaN } })).toThrow(CanonicalJsonError);
  });
});
