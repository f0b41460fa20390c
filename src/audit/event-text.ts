// An audit event's CloudEvent, in its structured JSON form, written straight to RFC 8785 text.
// Every change writes its events on its own path, and the envelope's members are always the same
// ones: they are written here in canonical (sorted) order, and only the parts that vary in shape —
// who acted, the request, the body — go through the general serialiser. The test holds this to
// canonicalJson(eventJson(...)) for every shape an event can take.
import { canonicalJson, canonicalString } from '../lib/canonical-json.js';

export interface EventFields {
  id: string;
  source: string;
  type: string;
  /** Left out when empty, as CloudEvents' optional attributes are. */
  subject?: string | undefined;
  /** RFC 3339 time. */
  time: string;
  /** `data.actor`; its `subject` is also the `actor` extension attribute. */
  actor: { subject: string };
  /** The `org` extension attribute; left out when empty. */
  org?: string | undefined;
  request: unknown;
  outcome: string;
  body: unknown;
}

/** The event as an object: what the text below stands for (tests, and readers of the shape). */
export function eventJson(fields: EventFields): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: fields.id,
    source: fields.source,
    type: fields.type,
    subject: fields.subject || undefined,
    time: fields.time,
    datacontenttype: 'application/json',
    actor: fields.actor.subject,
    org: fields.org || undefined,
    data: { actor: fields.actor, request: fields.request, outcome: fields.outcome, body: fields.body },
  };
}

/** canonicalJson(eventJson(fields)), written member by member in sorted order. */
export function eventText(fields: EventFields): string {
  // Sorted: actor < data < datacontenttype < id < org < source < specversion < subject < time < type;
  // inside data: actor < body < outcome < request.
  let text =
    `{"actor":${canonicalString(fields.actor.subject)}` +
    `,"data":{"actor":${canonicalJson(fields.actor)},"body":${canonicalJson(fields.body)}` +
    `,"outcome":${canonicalString(fields.outcome)},"request":${canonicalJson(fields.request)}}` +
    `,"datacontenttype":"application/json","id":${canonicalString(fields.id)}`;
  if (fields.org) text += `,"org":${canonicalString(fields.org)}`;
  text += `,"source":${canonicalString(fields.source)},"specversion":"1.0"`;
  if (fields.subject) text += `,"subject":${canonicalString(fields.subject)}`;
  return `${text},"time":${canonicalString(fields.time)},"type":${canonicalString(fields.type)}}`;
}
