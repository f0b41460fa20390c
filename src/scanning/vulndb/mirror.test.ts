// Scheduled OSV mirror imports: a configured zip is downloaded and imported by a durable job that
// schedules its next run; an unchanged mirror answers 304 and nothing is imported; refused
// addresses, plain http outside development mode and oversized archives fail visibly (an event)
// without stopping the schedule.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDialects } from '../../db/test-databases.js';
import { startTestServer, type TestServer } from '../../server/test-server.js';

const ZIP = readFileSync(new URL('../../../test/fixtures/osv-zip/sample-all.zip', import.meta.url));

describe.each(testDialects())('vulnerability database mirrors (%s)', (dialect) => {
  let mirror: Server;
  let url = '';
  let requests: { etag?: string }[] = [];
  let t: TestServer;

  beforeAll(async () => {
    mirror = createServer((req, res) => {
      requests.push({ etag: req.headers['if-none-match'] });
      if (req.url === '/huge.zip') {
        res.writeHead(200, { 'content-type': 'application/zip' });
        res.end(Buffer.alloc(64 * 1024));
        return;
      }
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/zip', etag: '"v1"' });
      res.end(ZIP);
    });
    await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;
    t = await startTestServer(
      dialect,
      {
        dev: true,
        scanning: {
          vulndb: {
            sources: [
              { url: `${url}/all.zip`, intervalHours: 1 },
              { url: `${url}/huge.zip`, intervalHours: 1 },
            ],
            maxDownloadBytes: 16 * 1024,
          },
        },
      },
      { manualJobs: true },
    );
  });
  afterAll(async () => {
    await t.dispose();
    await new Promise((resolve) => mirror.close(resolve));
  });

  it('imports a configured zip, then schedules the next run a source interval later', async () => {
    await t.server.mirror.schedule();
    const before = Date.now();
    const run = await t.server.jobs.runUntilIdle();
    expect(run).toMatchObject({ ran: 2, failed: 0 });
    const count = await t.server.scanning.store.vulnerabilityCount(t.server.database.db);
    expect(count).toBe(16);
    const job = await t.server.database.db
      .selectFrom('jobs')
      .selectAll()
      .where('key', '=', `vulndb.sync:${url}/all.zip`)
      .executeTakeFirstOrThrow();
    expect(job.state).toBe('queued');
    expect(Number(job.run_after)).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
    expect(JSON.parse(job.payload)).toEqual({ url: `${url}/all.zip`, etag: '"v1"' });
  });

  it('an unchanged mirror answers 304 and nothing is imported', async () => {
    requests = [];
    const result = await t.server.mirror.sync({ url: `${url}/all.zip`, etag: '"v1"' });
    expect(result).toMatchObject({ status: 'not-modified', bytes: 0 });
    expect(requests).toEqual([{ etag: '"v1"' }]);
  });

  it('an archive over the size limit fails the sync with an event, and the schedule stays', async () => {
    const result = await t.server.mirror.sync({ url: `${url}/huge.zip` });
    expect(result).toMatchObject({ status: 'failed', error: 'answered more than 16384 bytes' });
    const events = await t.server.app.inject({
      url: '/api/v1/events?type=dev.palisade.vulndb.sync.failed.v1',
    });
    expect(events.json<{ events: unknown[] }>().events.length).toBeGreaterThan(0);
    const job = await t.server.database.db
      .selectFrom('jobs')
      .select('state')
      .where('key', '=', `vulndb.sync:${url}/huge.zip`)
      .executeTakeFirstOrThrow();
    expect(job.state).toBe('queued');
  });
});

describe('mirror address rules outside development mode', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(
      'sqlite',
      {
        scanning: {
          vulndb: {
            sources: [
              { url: 'http://127.0.0.1:9/all.zip', intervalHours: 1 },
              { url: 'https://10.0.0.1/all.zip', intervalHours: 1 },
            ],
          },
        },
      },
      { manualJobs: true },
    );
  });
  afterAll(() => t.dispose());

  it('plain http is refused, and private addresses are refused before any connection', async () => {
    expect(await t.server.mirror.sync({ url: 'http://127.0.0.1:9/all.zip' })).toMatchObject({
      status: 'failed',
      error: 'the mirror URL must be https (plain http only to loopback in development mode)',
    });
    const privateAddress = await t.server.mirror.sync({ url: 'https://10.0.0.1/all.zip' });
    expect(privateAddress.status).toBe('failed');
    expect(privateAddress.error).toMatch(/^address refused: /);
    expect(await t.server.scanning.store.vulnerabilityCount(t.server.database.db)).toBe(0);
  });
});
