// reusableQuery: the SQL compiled on the first call answers later calls with their own
// parameters, on each database; builders that do not bind each parameter once, in order, are
// refused before they can answer with another call's rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from './database.js';
import { reusableQuery, ReusableQueryError } from './reusable-query.js';
import { createTestDatabase, testDialects, type TestDatabase } from './test-databases.js';

describe.each(testDialects())('reusableQuery on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = await database.open();
    for (const [name, createdAt] of [
      ['acme/app', 1],
      ['acme/api', 2],
      ['other/app', 3],
    ] as const) {
      await handle.db.insertInto('repositories').values({ name, created_at: createdAt }).execute();
    }
  });

  afterAll(async () => {
    await handle.close();
    await database.dispose();
  });

  it('answers every call with its own parameters, in and out of transactions', async () => {
    const byName = reusableQuery((ex, name: string, after: number) =>
      ex
        .selectFrom('repositories')
        .select(['name', 'created_at'])
        .where('name', '=', name)
        .where('created_at', '>=', after),
    );
    expect((await byName(handle.db, 'acme/app', 0)).rows).toEqual([{ name: 'acme/app', created_at: 1 }]);
    expect((await byName(handle.db, 'other/app', 0)).rows).toEqual([{ name: 'other/app', created_at: 3 }]);
    expect((await byName(handle.db, 'other/app', 4)).rows).toEqual([]);
    expect((await byName(handle.db, 'missing', 0)).rows).toEqual([]);
    const inTransaction = await handle.db.transaction().execute((trx) => byName(trx, 'acme/api', 2));
    expect(inTransaction.rows).toEqual([{ name: 'acme/api', created_at: 2 }]);
  });

  it('refuses a builder that binds its parameters out of order', async () => {
    const reordered = reusableQuery((ex, name: string, other: string) =>
      ex.selectFrom('repositories').select('name').where('name', '=', other).where('name', '=', name),
    );
    // Equal values would hide the swap; the stand-ins used to compile do not.
    await expect(reordered(handle.db, 'acme/app', 'acme/app')).rejects.toThrow(ReusableQueryError);
  });

  it('refuses a builder that repeats, drops or transforms a parameter', async () => {
    const repeated = reusableQuery((ex, name: string) =>
      ex.selectFrom('repositories').select('name').where('name', '=', name).where('name', '=', name),
    );
    await expect(repeated(handle.db, 'acme/app')).rejects.toThrow(/bind each parameter once/);
    const dropped = reusableQuery((ex, _name: string) =>
      ex.selectFrom('repositories').select('name').where('name', '=', 'acme/app'),
    );
    await expect(dropped(handle.db, 'other/app')).rejects.toThrow(ReusableQueryError);
    const transformed = reusableQuery((ex, name: string) =>
      ex.selectFrom('repositories').select('name').where('name', '=', `acme/${name}`),
    );
    await expect(transformed(handle.db, 'app')).rejects.toThrow(ReusableQueryError);
  });
});
