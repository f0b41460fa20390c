// A query on a hot path (a manifest GET by tag runs thousands of times a second) built and
// compiled by Kysely once, then sent again with new parameters: building and compiling the
// query took longer than SQLite takes to answer it. The SQL text stays Kysely's own, for the
// dialect of the executor it first ran on; only the parameter values change.
import { CompiledQuery, type Compilable, type Kysely, type QueryResult, type Transaction } from 'kysely';
import type { Database } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;
type Parameter = string | number;

export class ReusableQueryError extends Error {
  override name = 'ReusableQueryError';
}

/**
 * Wraps `build`, which must use each of its parameters exactly once, in order, as a bound value.
 * The first call compiles it with unique stand-in values and checks that they come back as the
 * compiled query's parameters, in that order; a query that inlines, reorders, repeats or
 * transforms a parameter is refused there rather than answering with the wrong rows later.
 * One instance serves one dialect (a store is made for one database).
 */
export function reusableQuery<P extends Parameter[], R>(
  build: (ex: Executor, ...params: P) => Compilable<R>,
): (ex: Executor, ...params: P) => Promise<QueryResult<R>> {
  let text: string | undefined;
  return async (ex, ...params) => {
    if (text === undefined) {
      const standIns = params.map((value, i) =>
        typeof value === 'number' ? 7_340_033 + i : `\u0000reusable-parameter-${i}`,
      ) as P;
      const compiled = build(ex, ...standIns).compile();
      const same =
        compiled.parameters.length === standIns.length &&
        compiled.parameters.every((value, i) => value === standIns[i]);
      if (!same) {
        throw new ReusableQueryError(
          `a reusable query must bind each parameter once, in order: compiled ${JSON.stringify(compiled.parameters)}`,
        );
      }
      text = compiled.sql;
    }
    return ex.executeQuery<R>(CompiledQuery.raw(text, params));
  };
}
