// Events recorded on their own (token issuance, exchanges, sign-ins) share transactions when they
// arrive together: each keeps the actor and request of the scope it was recorded in, the chain
// stays whole and gap-free, every caller learns of its own commit, and a bad event fails alone.
// Verification of such a live log judges the chain up to the head it read first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../db/test-databases.js';
import { startTestServer, type TestServer } from '../server/test-server.js';
import { auditScope } from './context.js';
import { verifyStored } from './verify.js';

describe.each(testDialects())('group commit of events recorded alone (%s)', (dialect) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(dialect);
  });
  afterAll(async () => t.dispose());

  it('keeps each event’s own scope, numbers them without gaps and resolves each once committed', async () => {
    const audit = t.server.audit;
    const before = (await audit.store.head(audit.store.db)).seq;
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        auditScope.run({ requestId: `req-${i}`, ip: `10.0.0.${i}`, path: `/p/${i}` }, () =>
          audit.recordAlone({ type: 'dev.palisade.test.thing.done.v1', subject: `thing-${i}` }),
        ),
      ),
    );
    const rows = await audit.store.list(audit.store.db, { afterSeq: before }, 100);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => before + i + 1));
    expect(rows).toHaveLength(40);
    for (const row of rows) {
      const i = Number(row.subject!.slice('thing-'.length));
      const event = JSON.parse(row.event) as {
        source: string;
        data: { request: { id: string; ip: string } };
      };
      expect(event.data.request).toMatchObject({ id: `req-${i}`, ip: `10.0.0.${i}` });
      expect(event.source).toBe(`http://palisade.test/p/${i}`);
    }
    expect((await verifyStored(audit.store)).ok).toBe(true);
  });

  it('fails a bad event alone, before it reaches the batch', async () => {
    const audit = t.server.audit;
    const before = (await audit.store.head(audit.store.db)).seq;
    const results = await Promise.allSettled([
      audit.recordAlone({ type: 'dev.palisade.test.thing.done.v1', subject: 'good-1' }),
      audit.recordAlone({ type: 'not a type', subject: 'bad' }),
      audit.recordAlone({ type: 'dev.palisade.test.thing.done.v1', subject: 'good-2' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const rows = await audit.store.list(audit.store.db, { afterSeq: before }, 10);
    expect(rows.map((r) => r.subject)).toEqual(['good-1', 'good-2']);
  });

  it('verifies a live log: events appended while verification runs are not a truncation', async () => {
    const audit = t.server.audit;
    // A store whose last page is followed at once by another append, as on a busy server.
    let appended = false;
    const racing = Object.create(audit.store) as typeof audit.store;
    racing.chainRows = async (ex, afterSeq, throughSeq) => {
      const rows = await audit.store.chainRows(ex, afterSeq, throughSeq);
      if (!appended) {
        appended = true;
        await audit.recordAlone({ type: 'dev.palisade.test.thing.done.v1' });
      }
      return rows;
    };
    const result = await verifyStored(racing, { pageSize: 7 });
    expect(appended).toBe(true);
    expect(result.ok, JSON.stringify(result.firstBad)).toBe(true);
  });
});
