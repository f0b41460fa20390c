// The affected entries the matcher needs, parsed once and kept per (ecosystem, name) key. Images
// of one registry share most of their packages, so after the first image the vulnerability
// database is rarely read again. The cache is dropped whenever the database's generation moves
// (any import batch, in this process or a host-local `palisade vulndb import`), and it holds at
// most `maxRows` entries, forgetting the least recently used keys first.
import type { StoredAffected } from './matcher.js';
import { keyString } from './matcher.js';
import type { PackageKey, ScanStore } from './store.js';

/** One affected entry of a record, ready to evaluate. */
export interface Candidate {
  vulnId: string;
  ecosystem: string;
  name: string;
  stored: StoredAffected;
  aliases: string[];
  summary: string | null;
  modified: string;
  withdrawn: boolean;
}

export class AffectedCache {
  /** Insertion order is recency order: a hit moves its key to the end. */
  readonly #byKey = new Map<string, Candidate[]>();
  #rows = 0;
  #generation: number | undefined;

  constructor(
    private readonly store: ScanStore,
    private readonly maxRows = 500_000,
  ) {}

  get size(): { keys: number; rows: number } {
    return { keys: this.#byKey.size, rows: this.#rows };
  }

  async candidates(keys: readonly PackageKey[]): Promise<Candidate[]> {
    const generation = await this.store.generation(this.store.db);
    if (generation !== this.#generation) {
      this.#byKey.clear();
      this.#rows = 0;
      this.#generation = generation;
    }
    const out: Candidate[] = [];
    const missing: PackageKey[] = [];
    for (const key of keys) {
      const id = keyString(key);
      const hit = this.#byKey.get(id);
      if (hit === undefined) {
        missing.push(key);
        continue;
      }
      this.#byKey.delete(id);
      this.#byKey.set(id, hit);
      for (const candidate of hit) out.push(candidate);
    }
    if (missing.length === 0) return out;
    const loaded = new Map<string, Candidate[]>(missing.map((key) => [keyString(key), []]));
    for (const row of await this.store.affectedFor(this.store.db, missing)) {
      const candidate: Candidate = {
        vulnId: row.vulnId,
        ecosystem: row.ecosystem,
        name: row.name,
        stored: JSON.parse(row.affected) as StoredAffected,
        aliases: JSON.parse(row.aliases) as string[],
        summary: row.summary,
        modified: row.modified,
        withdrawn: row.withdrawn !== null,
      };
      loaded.get(keyString(row))?.push(candidate);
      out.push(candidate);
    }
    // A read that raced an import may hold older rows: keep them only if nothing moved meanwhile.
    if ((await this.store.generation(this.store.db)) !== generation || this.#generation !== generation)
      return out;
    for (const [id, candidates] of loaded) {
      this.#byKey.set(id, candidates);
      this.#rows += candidates.length;
    }
    this.#evict();
    return out;
  }

  #evict(): void {
    for (const [id, candidates] of this.#byKey) {
      if (this.#rows <= this.maxRows) return;
      this.#byKey.delete(id);
      this.#rows -= candidates.length;
    }
  }
}
