// The audit log's HTTP edge: GET /api/v1/events (filters, cursor pages), streaming export as
// NDJSON or application/cloudevents-batch+json, and the signed checkpoints. Reading needs
// events.read in the organization asked for; the whole log needs an administrator. Exports are
// themselves audited.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ORGANIZATION } from '../identity/iam.js';
import { parseInput } from '../lib/validate.js';
import type { AuditLog } from './audit-log.js';
import { exportedLine, toExported } from './export.js';
import type { EventFilter } from './store.js';

const time = z
  .string()
  .max(40)
  .transform((value, ctx) => {
    const ms = /^\d{1,15}$/.test(value) ? Number(value) : Date.parse(value);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'use an RFC 3339 time or milliseconds since the epoch' });
      return z.NEVER;
    }
    return ms;
  });

const filterSchema = z
  .object({
    since: time.optional(),
    until: time.optional(),
    type: z
      .string()
      .max(200)
      .regex(/^[a-z0-9.-]+$/, 'a type prefix such as dev.palisade.registry.')
      .optional(),
    actor: z.string().max(300).optional(),
    subject: z.string().max(1000).optional(),
    org: z.string().max(255).regex(ORGANIZATION).optional(),
    cursor: z
      .string()
      .regex(/^\d{1,15}$/, 'the next_cursor of a previous page')
      .optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    format: z.enum(['ndjson', 'batch']).default('ndjson'),
  })
  .strict();

function filterOf(request: FastifyRequest) {
  const query = parseInput(filterSchema, request.query);
  const filter: EventFilter = {
    ...(query.cursor ? { afterSeq: Number(query.cursor) } : {}),
    ...(query.since !== undefined ? { since: query.since } : {}),
    ...(query.until !== undefined ? { until: query.until } : {}),
    ...(query.type ? { typePrefix: query.type } : {}),
    ...(query.actor ? { actor: query.actor } : {}),
    ...(query.subject ? { subject: query.subject } : {}),
    ...(query.org ? { org: query.org } : {}),
  };
  return { query, filter };
}

/** Organization-scoped reads need events.read there; without ?org= the whole log (administrators). */
const target = (request: FastifyRequest) => {
  const org = (request.query as Record<string, unknown>).org;
  return typeof org === 'string' && ORGANIZATION.test(org) ? { organization: org } : undefined;
};

/** Events per read of an export. */
const EXPORT_PAGE = 2000;

export function mountAudit(app: FastifyInstance, audit: AuditLog): void {
  const store = audit.store;

  app.get('/api/v1/events', { config: { capability: 'events.read', target } }, async (request) => {
    const { query, filter } = filterOf(request);
    const rows = await store.list(store.db, filter, query.limit);
    return {
      events: rows.map(toExported),
      next_cursor: rows.length === query.limit ? String(rows[rows.length - 1]!.seq) : null,
    };
  });

  app.get(
    '/api/v1/events/export',
    { config: { capability: 'events.read', target, audited: true } },
    async (request, reply) => {
      const { query, filter } = filterOf(request);
      const before = await store.head(store.db);
      await audit.recordAlone({
        type: 'dev.palisade.audit.log.exported.v1',
        ...(filter.org ? { org: filter.org } : {}),
        body: { filter: { ...filter }, format: query.format, head: before.seq },
      });
      // The export includes its own record: announce the head after it.
      const head = await store.head(store.db);
      const read = (after: number) => {
        const page = store.exportPage(store.db, { ...filter, afterSeq: after }, EXPORT_PAGE);
        page.catch(() => undefined); // a page read ahead for a client that left is not an error
        return page;
      };
      async function* lines() {
        let first = true;
        if (query.format === 'batch') yield '[';
        let next = read(filter.afterSeq ?? 0);
        for (;;) {
          const rows = await next;
          // The next page is read while this one is written out.
          const more = rows.length === EXPORT_PAGE;
          if (more) next = read(rows[rows.length - 1]!.seq);
          // One chunk per page, not per event; lines are spliced, not parsed and re-serialised.
          let chunk = '';
          for (const row of rows) {
            const json = exportedLine(row);
            chunk += query.format === 'batch' ? `${first ? '' : ','}\n${json}` : `${json}\n`;
            first = false;
          }
          if (chunk) yield chunk;
          if (!more) break;
        }
        if (query.format === 'batch') yield '\n]\n';
      }
      return reply
        .header(
          'Content-Type',
          query.format === 'batch' ? 'application/cloudevents-batch+json' : 'application/x-ndjson',
        )
        .header('Palisade-Audit-Head', String(head.seq))
        .header('Cache-Control', 'no-store')
        .send(Readable.from(lines()));
    },
  );

  app.get('/api/v1/audit/checkpoints', { config: { capability: 'authenticated' } }, async (request) => {
    const query = parseInput(
      z
        .object({
          after: z.coerce.number().int().min(0).default(0),
          limit: z.coerce.number().int().min(1).max(10_000).default(1000),
        })
        .strict(),
      request.query,
    );
    const rows = await store.checkpoints(store.db, query.after, query.limit);
    const anchor = await store.anchor(store.db);
    return {
      anchor: anchor
        ? {
            seq: anchor.seq,
            hash: anchor.hash,
            time: new Date(anchor.created_at).toISOString(),
            jws: anchor.jws,
          }
        : null,
      checkpoints: rows.map((r) => ({
        seq: r.seq,
        hash: r.hash,
        time: new Date(r.created_at).toISOString(),
        jws: r.jws,
      })),
    };
  });
}
