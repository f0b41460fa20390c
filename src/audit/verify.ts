// Verifying the chain as stored: read the events in sequence order, page by page, carry the
// running hash across pages, and check that the chain head agrees with the last event (a
// truncated tail with a rewound head is caught by signed checkpoints). Sequence numbers have no
// gaps, so pages are ranges of them and the next pages are read while one is checked; a missing
// row shows as a gap in its page. On a log of more than one page, the rows' own hashes are
// computed on a worker thread (SQLite reads on this thread) and the links between rows here.
import { verifyChain, GENESIS_HASH, mismatchedRows, type ChainRow, type ChainVerification } from './chain.js';
import { PageHasher } from './page-hasher.js';
import type { AuditStore } from './store.js';

export interface VerifyOptions {
  /** Sequence numbers per read (default 5000). */
  pageSize?: number;
  /**
   * Where rows are hashed: on a worker thread, inline, or (auto, the default) on the thread when
   * more than one page of SQLite is read. On PostgreSQL the database server already works on the
   * next pages in parallel, and a thread would compete with it for the cores.
   */
  hashing?: 'thread' | 'inline' | 'auto';
}

/** Pages requested ahead of the one being checked. */
const READ_AHEAD = 1;

export async function verifyStored(
  store: AuditStore,
  options: VerifyOptions = {},
): Promise<ChainVerification> {
  const pageSize = options.pageSize ?? 5000;
  const hashing = options.hashing ?? 'auto';
  // The head first: events appended while this runs are beyond it and not judged, so a live log
  // is not mistaken for a truncated one.
  const head = await store.head(store.db);
  const anchor = await store.anchor(store.db);
  // After pruning, the retained chain starts at the anchor instead of the genesis.
  let from = anchor ? { seq: anchor.seq, hash: anchor.hash } : { seq: 0, hash: GENESIS_HASH };
  const pages = Math.max(1, Math.ceil((head.seq - from.seq) / pageSize));
  const threaded = hashing === 'thread' || (hashing === 'auto' && pages > 1 && store.dialect === 'sqlite');
  const hasher = threaded ? new PageHasher() : undefined;
  const reads: Promise<ChainRow[]>[] = [];
  const start = from.seq;
  const read = (page: number) =>
    store.chainRows(store.db, start + page * pageSize, Math.min(head.seq, start + (page + 1) * pageSize));
  let checked = 0;
  try {
    for (let page = 0; page < Math.min(pages, READ_AHEAD + 1); page += 1) reads.push(read(page));
    for (let page = 0; page < pages; page += 1) {
      const rows = await reads[page]!;
      // Hashing starts first (on the thread), then the next page is read while it runs.
      const mismatched = hasher ? hasher.mismatched(rows) : Promise.resolve(mismatchedRows(rows));
      if (page + READ_AHEAD + 1 < pages) reads.push(read(page + READ_AHEAD + 1));
      const result = verifyChain(rows, from, new Set(await mismatched));
      checked += result.checked;
      if (!result.ok) return { ...result, checked };
      // A page whose last rows are missing ends short of its range: the next one says where.
      from = { seq: result.lastSeq, hash: result.lastHash };
    }
    if (head.seq !== from.seq || head.hash !== from.hash) {
      return {
        ok: false,
        checked,
        lastSeq: from.seq,
        lastHash: from.hash,
        firstBad: {
          seq: from.seq + 1,
          reason: `the chain head says ${head.seq} events, the log holds ${from.seq}`,
        },
      };
    }
    return { ok: true, checked, lastSeq: from.seq, lastHash: from.hash };
  } finally {
    // Pages read ahead of a failure are not left to reject unobserved.
    await Promise.all(reads.map((r) => r.catch(() => undefined)));
    await hasher?.close();
  }
}
