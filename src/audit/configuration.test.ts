// Configuration changes are recorded at start-up: the first start's settings, then what changed
// between starts (before/after), a dedicated event when the legal hold is switched, nothing when
// nothing changed — and never a secret from the configuration.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.js';
import { testDialects } from '../db/test-databases.js';
import { createServer, type PalisadeServer } from '../server/server.js';
import { startTestServer, type TestServer } from '../server/test-server.js';

describe.each(testDialects())('configuration events (%s)', (dialect) => {
  let t: TestServer;
  const opened: PalisadeServer[] = [];
  afterAll(async () => {
    for (const server of opened) await server.close();
    await t.database.dispose();
    rmSync(t.dataDir, { recursive: true, force: true });
  });

  async function restart(changes: Record<string, unknown>): Promise<PalisadeServer> {
    const base = t.server.config;
    const server = await createServer(
      configSchema.parse({ ...base, ...changes, audit: { ...base.audit, ...(changes.audit as object) } }),
    );
    opened.push(server);
    return server;
  }

  const configEvents = async (server: PalisadeServer) =>
    (await server.audit.store.list(server.database.db, { typePrefix: 'dev.palisade.' }, 10_000)).filter(
      (e) =>
        e.type.startsWith('dev.palisade.system.config.') ||
        e.type.startsWith('dev.palisade.audit.legal-hold.'),
    );

  it('records the first start’s settings, then each change with before and after', async () => {
    const kek = randomBytes(32).toString('base64url');
    t = await startTestServer(dialect, { identity: { keyEncryptionKey: kek } });
    const [applied] = await configEvents(t.server);
    expect(applied).toMatchObject({
      type: 'dev.palisade.system.config.applied.v1',
      actor: 'system:palisade',
    });
    const body = JSON.parse(applied!.event) as {
      data: {
        actor: { act: Record<string, unknown> };
        body: { settings: Record<string, Record<string, unknown>> };
      };
    };
    expect(body.data.body.settings.audit).toMatchObject({ retentionDays: 400, legalHold: false });
    expect(body.data.body.settings.identity!.keyEncryptionKey).toBe('set in configuration');
    expect(body.data.actor.act).toMatchObject({ pid: process.pid });
    expect(applied!.event).not.toContain(kek);
    await t.server.close();

    // Same settings: nothing to record.
    const same = await restart({});
    expect(await configEvents(same)).toHaveLength(1);
    await same.close();

    const changed = await restart({ audit: { legalHold: true, retentionDays: 100 } });
    const events = await configEvents(changed);
    expect(events.map((e) => e.type)).toEqual([
      'dev.palisade.system.config.applied.v1',
      'dev.palisade.system.config.changed.v1',
      'dev.palisade.audit.legal-hold.enabled.v1',
    ]);
    expect((JSON.parse(events[1]!.event) as { data: { body: unknown } }).data.body).toEqual({
      changes: [
        { setting: 'audit.legalHold', before: false, after: true },
        { setting: 'audit.retentionDays', before: 400, after: 100 },
      ],
    });
    // While the hold is on, retention prunes nothing.
    expect(await changed.retention.prune(Date.now() + 1000 * 86_400_000)).toMatchObject({
      held: true,
      pruned: 0,
    });
    await changed.close();

    const released = await restart({ audit: { legalHold: false, retentionDays: 100 } });
    expect((await configEvents(released)).map((e) => e.type).slice(-1)).toEqual([
      'dev.palisade.audit.legal-hold.disabled.v1',
    ]);
  });
});
