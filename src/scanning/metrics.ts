// Scanning in /metrics, computed when scraped: background jobs by kind-independent state (a
// growing queue or failed jobs need a look), image analyses by status, and the number of OSV
// records in the vulnerability database.
import { Gauge, type Registry } from 'prom-client';
import type { JobStore } from '../jobs/store.js';
import type { ScanStore } from './store.js';

export function createScanningMetrics(registry: Registry, jobs: JobStore, scans: ScanStore): void {
  new Gauge({
    name: 'palisade_jobs',
    help: 'Background jobs (image analyses, re-evaluations, mirror syncs) by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const counts = await jobs.counts();
      this.reset();
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });
  new Gauge({
    name: 'palisade_image_analyses',
    help: 'Image analyses by status (queued, running, done, failed)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const counts = await scans.analysisCounts(scans.db);
      this.reset();
      for (const [status, count] of Object.entries(counts)) this.set({ status }, count);
    },
  });
  new Gauge({
    name: 'palisade_vulnerability_records',
    help: 'OSV records in the vulnerability database (withdrawn ones included)',
    registers: [registry],
    async collect() {
      this.set(await scans.vulnerabilityCount(scans.db));
    },
  });
}
