// Which SQL dialect a database URL selects. Kept tiny so migrations can import it freely.
export type Dialect = 'sqlite' | 'postgres';

export function dialectOf(url: string): Dialect {
  return /^postgres(?:ql)?:\/\//.test(url) ? 'postgres' : 'sqlite';
}
