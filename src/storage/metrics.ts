// Blob storage in /metrics: which direct I/O mode is in force (a filesystem that refuses O_DIRECT
// silently changes it, which an operator should see) and how many bytes went around the cache.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DirectIoStats } from './fs/fs-blob-store.js';

export function createStorageMetrics(registry: Registry, stats: () => DirectIoStats): void {
  new Gauge({
    name: 'palisade_blob_direct_io_mode',
    help: 'Direct I/O mode in force for big blobs (1 for the mode in force: on, writes or off)',
    labelNames: ['mode'],
    registers: [registry],
    collect() {
      const { mode } = stats();
      for (const each of ['on', 'writes', 'off'] as const) this.set({ mode: each }, each === mode ? 1 : 0);
    },
  });
  new Counter({
    name: 'palisade_blob_direct_io_bytes_total',
    help: 'Blob bytes written or read with direct I/O, bypassing the page cache',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      const { bytesWritten, bytesRead } = stats();
      this.reset();
      this.inc({ direction: 'write' }, bytesWritten);
      this.inc({ direction: 'read' }, bytesRead);
    },
  });
}
