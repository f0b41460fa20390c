// Reading the log: filters and cursor pages, organization-scoped access (events.read) versus the
// whole log (administrators), streaming exports that are themselves audited, and signed
// checkpoints that let an export be verified offline — including against a forger who rewrites
// an event and recomputes every later hash.
import type { JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { createUser, withHeaders, type TestUser } from '../identity/test-helpers.js';
import { pushImage } from '../registry/test-helpers.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { chainHash, verifyChain } from './chain.js';
import { exportedLine, fromExported, readExport, rowFromLine } from './export.js';
import { verifyExport, type CheckpointRecord } from './verify-export.js';

describe.each(testDialects())('reading and exporting the audit log (%s)', (dialect) => {
  let t: TestServer;
  let owner: TestUser;
  let outsider: TestUser;
  let digest: string;
  const app = () => t.server.app;
  const get = (url: string, token = t.adminToken) =>
    app().inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    t = await startTestServer(dialect, {}, { asAdmin: false });
    owner = await createUser(t, { bindings: [{ role: 'owner', organization: 'acme' }] });
    outsider = await createUser(t, { bindings: [{ role: 'owner', organization: 'other' }] });
    digest = (await pushImage(withHeaders(t, { authorization: `Bearer ${owner.token}` }), 'acme/app', 'v1'))
      .digest;
    await pushImage(withHeaders(t, { authorization: `Bearer ${outsider.token}` }), 'other/app', 'v1');
  });
  afterAll(async () => t.dispose());

  it('answers "who pushed this digest" with the actor and their original identity', async () => {
    const res = await get(
      `/api/v1/events?subject=${encodeURIComponent(`acme/app@${digest}`)}&type=dev.palisade.registry.manifest`,
    );
    expect(res.statusCode, res.body).toBe(200);
    const [event] = res.json<{
      events: { type: string; actor: string; data: { actor: { act: Record<string, unknown> } } }[];
    }>().events;
    expect(event).toMatchObject({ type: 'dev.palisade.registry.manifest.pushed.v1', actor: owner.subject });
    expect(event!.data.actor.act).toMatchObject({ sub: owner.subject, amr: ['hwk', 'user', 'mfa'] });
  });

  it('records pulls (batched) with the puller, unless turned off', async () => {
    const get1 = await app().inject({
      method: 'GET',
      url: '/v2/acme/app/manifests/v1',
      headers: { authorization: `Bearer ${owner.token}`, 'user-agent': 'containerd/2.0' },
    });
    expect(get1.statusCode).toBe(200);
    await app().inject({
      method: 'HEAD',
      url: '/v2/acme/app/manifests/v1',
      headers: { authorization: `Bearer ${owner.token}` },
    });
    await t.server.pulls!.flush();
    const pulls = (await get('/api/v1/events?type=dev.palisade.registry.manifest.pulled')).json<{
      events: {
        subject: string;
        actor: string;
        data: { request: { user_agent: string }; body: { reference: string } };
      }[];
    }>().events;
    expect(pulls).toHaveLength(1);
    expect(pulls[0]).toMatchObject({
      subject: `acme/app@${digest}`,
      actor: owner.subject,
      data: { request: { user_agent: 'containerd/2.0' }, body: { reference: 'v1' } },
    });
    const quiet = await startTestServer(dialect, { audit: { recordPulls: false } });
    try {
      await pushImage(quiet.server.app, 'acme/app', 'v1');
      expect(
        (await quiet.server.app.inject({ method: 'GET', url: '/v2/acme/app/manifests/v1' })).statusCode,
      ).toBe(200);
      expect(quiet.server.pulls).toBeUndefined();
      const types = (await quiet.server.audit.store.list(quiet.server.database.db, {}, 1000)).map(
        (e) => e.type,
      );
      expect(types).not.toContain('dev.palisade.registry.manifest.pulled.v1');
    } finally {
      await quiet.dispose();
    }
  });

  it('records each garbage collection run as one event of the system', async () => {
    const result = await t.server.runGc();
    const [event] = (await get('/api/v1/events?type=dev.palisade.registry.gc')).json<{
      events: { actor: string; data: { body: Record<string, unknown> } }[];
    }>().events;
    expect(event!.actor).toBe('system:palisade');
    expect(event!.data.body).toMatchObject({
      manifestsDeleted: result.manifestsDeleted,
      blobsDeleted: result.blobsDeleted,
      errors: [],
    });
  });

  it('pages with a cursor and filters by type, actor, org and time', async () => {
    const first = (await get('/api/v1/events?limit=3')).json<{
      events: { auditseq: number }[];
      next_cursor: string;
    }>();
    expect(first.events.map((e) => e.auditseq)).toEqual([1, 2, 3]);
    const second = (await get(`/api/v1/events?limit=3&cursor=${first.next_cursor}`)).json<{
      events: { auditseq: number }[];
    }>();
    expect(second.events.map((e) => e.auditseq)).toEqual([4, 5, 6]);
    const byActor = (await get(`/api/v1/events?actor=${outsider.subject}`)).json<{
      events: { actor: string; org: string }[];
    }>();
    expect(byActor.events.length).toBeGreaterThan(0);
    expect(new Set(byActor.events.map((e) => e.org))).toEqual(new Set(['other']));
    const future = (
      await get(`/api/v1/events?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)
    ).json<{ events: unknown[] }>();
    expect(future.events).toEqual([]);
    expect((await get('/api/v1/events?since=yesterday')).statusCode).toBe(400);
    expect((await get('/api/v1/events?type=%25')).statusCode).toBe(400);
  });

  it('lets an owner read their organization only; the whole log is for administrators', async () => {
    const mine = await get('/api/v1/events?org=acme', owner.token);
    expect(mine.statusCode).toBe(200);
    expect(new Set(mine.json<{ events: { org: string }[] }>().events.map((e) => e.org))).toEqual(
      new Set(['acme']),
    );
    expect((await get('/api/v1/events?org=other', owner.token)).statusCode).toBe(403);
    expect((await get('/api/v1/events', owner.token)).statusCode).toBe(403);
    expect((await app().inject({ method: 'GET', url: '/api/v1/events' })).statusCode).toBe(401);
  });

  it('streams NDJSON and CloudEvents batches, and records the export itself', async () => {
    const ndjson = await get('/api/v1/events/export');
    expect(ndjson.headers['content-type']).toBe('application/x-ndjson');
    const lines = ndjson.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { auditseq: number });
    expect(Number(ndjson.headers['palisade-audit-head'])).toBe(lines.length);
    const batch = await get('/api/v1/events/export?format=batch');
    expect(batch.headers['content-type']).toBe('application/cloudevents-batch+json');
    const events = batch.json<{ specversion: string; type: string }[]>();
    expect(events.every((e) => e.specversion === '1.0')).toBe(true);
    expect(events.at(-1)!.type).toBe('dev.palisade.audit.log.exported.v1');
  });

  it('verifies an export offline against signed checkpoints and the JWKS, and catches a recomputed forgery', async () => {
    expect(await t.server.checkpointer.maybeCheckpoint()).toBeGreaterThan(0);
    const lines = (await get('/api/v1/events/export')).body.trim().split('\n');
    const exported = lines.map((l) => rowFromLine(l));
    // Undoing the splice gives back what parsing and re-serialising gives, byte for byte here.
    expect(exported).toEqual(lines.map((l) => fromExported(JSON.parse(l))));
    const { checkpoints } = (await get('/api/v1/audit/checkpoints')).json<{
      checkpoints: CheckpointRecord[];
    }>();
    const jwks = (await app().inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<JSONWebKeySet>();
    const issuer = t.server.identity.tokens.issuer;
    const good = await verifyExport(exported, checkpoints, jwks, issuer);
    expect(good).toMatchObject({ ok: true, firstSeq: 1 });
    expect(good.checkpointsVerified).toBe(1);

    // An edited line is caught whether or not its splice is intact.
    const edited = lines.map((l, i) => (i === 2 ? l.replace('"subject":"', '"subject":"x') : l));
    expect(edited[2]).not.toBe(lines[2]);
    const editedRows = edited.map((l) => rowFromLine(l));
    expect(editedRows[2]!.seq).toBe(3);
    expect((await verifyExport(editedRows, checkpoints, jwks, issuer)).firstBad).toEqual({
      seq: 3,
      reason: 'its content does not match its hash',
    });

    // Read as bytes (as `palisade audit verify` does): the same rows, hashed without decoding,
    // and the edited line found again.
    const bytes = readExport(Buffer.from(`${lines.join('\r\n')}\n\n`));
    expect(bytes.mismatched).toEqual(new Set());
    expect(bytes.rows.map((r) => ({ ...r, event: r.event }))).toEqual(exported);
    expect(await verifyExport(bytes.rows, checkpoints, jwks, issuer, null, bytes.mismatched)).toMatchObject({
      ok: true,
      checked: lines.length,
    });
    const editedBytes = readExport(Buffer.from(edited.join('\n')));
    expect(editedBytes.mismatched).toEqual(new Set([2]));
    expect(
      (await verifyExport(editedBytes.rows, checkpoints, jwks, issuer, null, editedBytes.mismatched))
        .firstBad,
    ).toEqual({ seq: 3, reason: 'its content does not match its hash' });

    // Edit event 3 and recompute every hash after it: the chain alone now "verifies"…
    const forged = exported.map((r) => ({ ...r }));
    const third = JSON.parse(forged[2]!.event) as Record<string, unknown>;
    forged[2]!.event = JSON.stringify({ ...third, subject: 'forged' });
    for (let i = 2; i < forged.length; i += 1) {
      forged[i]!.prev_hash = i === 0 ? forged[i]!.prev_hash : forged[i - 1]!.hash;
      forged[i]!.hash = chainHash(forged[i]!.prev_hash, JSON.parse(forged[i]!.event));
    }
    // …but not against the checkpoint the server signed.
    const caught = await verifyExport(forged, checkpoints, jwks, issuer);
    expect(caught.ok).toBe(false);
    expect(caught.firstBad).toEqual({
      seq: checkpoints[0]!.seq,
      reason: 'the chain differs from the signed checkpoint at this sequence number',
    });
    // A forged checkpoint (signed by someone else) is refused too.
    const bad = await verifyExport(
      exported,
      [{ ...checkpoints[0]!, jws: `${checkpoints[0]!.jws.slice(0, -4)}AAAA` }],
      jwks,
      issuer,
    );
    expect(bad.ok).toBe(false);
  });

  it('exports a log of several pages whole and in order, and it verifies', async () => {
    const audit = t.server.audit;
    const inputs = Array.from({ length: 4500 }, (_, i) => ({
      type: 'dev.palisade.test.thing.done.v1',
      subject: `bulk-${i}`,
    }));
    await t.server.database.db.transaction().execute((trx) => audit.recordMany(trx, inputs));
    const res = await get('/api/v1/events/export');
    expect(res.statusCode).toBe(200);
    const { rows, mismatched } = readExport(res.rawPayload);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.length).toBe(Number(res.headers['palisade-audit-head']));
    expect(mismatched).toEqual(new Set());
    const chain = verifyChain(rows, undefined, mismatched);
    expect(chain).toMatchObject({ ok: true, checked: rows.length });
    // Filtered exports page through the same way.
    const bulk = readExport((await get('/api/v1/events/export?type=dev.palisade.test.thing.')).rawPayload);
    expect(bulk.rows.filter((r) => r.event.includes('"subject":"bulk-'))).toHaveLength(4500);
  });

  it('reads an exported line back without parsing it, and parses what it cannot undo', () => {
    const hash = 'a'.repeat(64);
    const prev = 'b'.repeat(64);
    const event = '{"id":"x","specversion":"1.0"}';
    const line = exportedLine({ seq: 7, prev_hash: prev, hash, event });
    expect(rowFromLine(line)).toEqual({ seq: 7, prev_hash: prev, hash, event });
    expect(rowFromLine(`${line}\r`)).toEqual({ seq: 7, prev_hash: prev, hash, event });
    expect(rowFromLine(exportedLine({ seq: 1, prev_hash: prev, hash, event: '{}' }))).toEqual({
      seq: 1,
      prev_hash: prev,
      hash,
      event: '{}',
    });
    // Attributes in another order (a re-serialised export) take the parsing path.
    const reordered = `{"auditseq":7,"id":"x","specversion":"1.0","auditprevhash":"${prev}","audithash":"${hash}"}`;
    expect(rowFromLine(reordered)).toEqual({ seq: 7, prev_hash: prev, hash, event: event });
    expect(() => rowFromLine('{"id":"x"}')).toThrow(/without auditseq/);
    expect(() => rowFromLine('not json')).toThrow();

    // The same from bytes: spliced lines are hashed as they are, others parsed and left to the chain.
    const bytes = readExport(
      Buffer.from(
        `${line}\n${exportedLine({ seq: 8, prev_hash: hash, hash: prev, event: '{}' })}\n${reordered}\n`,
      ),
    );
    expect(bytes.rows.map((r) => [r.seq, r.prev_hash, r.hash, r.event])).toEqual([
      [7, prev, hash, event],
      [8, hash, prev, '{}'],
      [7, prev, hash, event],
    ]);
    // (These hashes are made up: none of the rows hashes; the parsed one is always left to the chain.)
    expect(bytes.mismatched).toEqual(new Set([0, 1, 2]));
    expect(() => readExport(Buffer.from(`${line}\nnot json\n`))).toThrow(
      /line 2 of the export is not an exported event/,
    );
  });
});
