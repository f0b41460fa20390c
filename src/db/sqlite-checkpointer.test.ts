// The WAL checkpoint thread: the server's commits leave checkpoints to it. Checked through the
// database file itself, which only grows when a checkpoint copies the log's pages into it.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes ~2 MiB in 100 transactions: ~500 pages, under SQLite's own 1,000-page threshold. */
async function writeSome(
  url: string,
  backgroundCheckpoints: boolean,
): Promise<{ before: number; after: number }> {
  const handle = openDatabase(url, { backgroundCheckpoints });
  try {
    await sql`create table if not exists filler (id integer primary key, data blob)`.execute(handle.db);
    const before = statSync(url).size;
    for (let i = 0; i < 100; i++) {
      await handle.db.transaction().execute(async (trx) => {
        await sql`insert into filler (data) values (randomblob(20000))`.execute(trx);
      });
    }
    // Give a checkpoint thread (250 ms timer) time to run.
    let after = statSync(url).size;
    for (let waited = 0; waited < 3000 && after < before + 2_000_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = statSync(url).size;
    }
    return { before, after };
  } finally {
    await handle.close();
  }
}

describe('SQLite checkpoints on a thread of their own', () => {
  it('copies committed pages into the database file without any commit checkpointing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-ckpt-'));
    dirs.push(dir);
    const { before, after } = await writeSome(join(dir, 'on.db'), true);
    expect(after - before).toBeGreaterThanOrEqual(2_000_000);
  });

  it('leaves those pages in the log without the thread (the comparison that shows it worked)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-ckpt-'));
    dirs.push(dir);
    const { before, after } = await writeSome(join(dir, 'off.db'), false);
    expect(after - before).toBeLessThan(1_000_000);
  }, 10_000);

  it('closes with the database, and what was written is all there when it is opened again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-ckpt-'));
    dirs.push(dir);
    const url = join(dir, 'reopen.db');
    await writeSome(url, true);
    const again = openDatabase(url);
    try {
      const { rows } = await sql<{ n: number }>`select count(*) as n from filler`.execute(again.db);
      expect(rows[0]?.n).toBe(100);
    } finally {
      await again.close();
    }
  });

  it('closes at once when its thread has already died', async () => {
    const checkpointer = new SqliteCheckpointer(join(tmpdir(), 'palisade-no-such-dir', 'none.db'));
    // The thread cannot open a database that does not exist, and ends.
    for (let waited = 0; waited < 5000 && checkpointer.lastError === undefined; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(checkpointer.lastError).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await checkpointer.close();
  });
});
