// Prometheus metrics for one server instance (its own registry, so tests can run several).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServerMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route' | 'status'>;
  bytesIn: Counter<'route'>;
  bytesOut: Counter<'route'>;
  uploadsInProgress: Gauge;
}

export function createMetrics(countUploads: () => Promise<number>): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'palisade_' });
  return {
    registry,
    requests: new Counter({
      name: 'palisade_http_requests_total',
      help: 'HTTP requests by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'palisade_http_request_duration_seconds',
      help: 'HTTP request latency by method, route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
      registers: [registry],
    }),
    bytesIn: new Counter({
      name: 'palisade_http_request_bytes_total',
      help: 'Request body bytes received, by route',
      labelNames: ['route'],
      registers: [registry],
    }),
    bytesOut: new Counter({
      name: 'palisade_http_response_bytes_total',
      help: 'Response body bytes sent, by route',
      labelNames: ['route'],
      registers: [registry],
    }),
    uploadsInProgress: new Gauge({
      name: 'palisade_registry_uploads_in_progress',
      help: 'Blob upload sessions open right now',
      registers: [registry],
      async collect() {
        this.set(await countUploads());
      },
    }),
  };
}
