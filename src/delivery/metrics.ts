// Delivery in /metrics: deliveries and failures per subscription, commit-to-acknowledgement
// latency, and — computed when scraped — each subscription's lag (events waiting, age of the
// oldest) and whether it is failing.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface SubscriptionGaugeValues {
  id: string;
  org: string | null;
  lagEvents: number;
  lagSeconds: number;
  failing: boolean;
}

export interface DeliveryMetrics {
  delivered(subscription: string, latencySeconds: number): void;
  failed(subscription: string): void;
}

export function createDeliveryMetrics(
  registry: Registry,
  statuses: () => Promise<SubscriptionGaugeValues[]>,
): DeliveryMetrics {
  const labelNames = ['subscription', 'org'] as const;
  // One read of the statuses per scrape, shared by the three gauges (the registry collects them
  // concurrently).
  let current: Promise<SubscriptionGaugeValues[]> | undefined;
  const load = () => {
    current ??= statuses().finally(() => setTimeout(() => (current = undefined), 100).unref());
    return current;
  };
  const gauge = (name: string, help: string, value: (s: SubscriptionGaugeValues) => number) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const values = await load();
        this.reset();
        for (const s of values) this.set({ subscription: s.id, org: s.org ?? '' }, value(s));
      },
    });
  gauge(
    'palisade_event_subscription_lag_events',
    'Events waiting to be delivered to a subscription',
    (s) => s.lagEvents,
  );
  gauge(
    'palisade_event_subscription_lag_seconds',
    'Age of the oldest event a subscription has not yet delivered (0 when caught up)',
    (s) => s.lagSeconds,
  );
  gauge(
    'palisade_event_subscription_failing',
    '1 when a subscription gave up retrying and waits for a redelivery',
    (s) => (s.failing ? 1 : 0),
  );
  const deliveries = new Counter({
    name: 'palisade_event_deliveries_total',
    help: 'Delivery attempts by subscription and outcome',
    labelNames: ['subscription', 'outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'palisade_event_delivery_latency_seconds',
    help: 'From an event being recorded to its sink acknowledging it',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600],
    registers: [registry],
  });
  return {
    delivered(subscription, seconds) {
      deliveries.inc({ subscription, outcome: 'delivered' });
      latency.observe(Math.max(0, seconds));
    },
    failed(subscription) {
      deliveries.inc({ subscription, outcome: 'failed' });
    },
  };
}
