// Turns the registry benchmark's per-round figures into what it prints: the medians per registry,
// the Palisade/Distribution ratio with the direction that is better, the target each figure is
// held to, a Markdown table, and a line describing the machine.
import { cpus, platform, release, totalmem, arch } from 'node:os';

export const REGISTRIES = ['palisade', 'distribution'] as const;
export type RegistryName = (typeof REGISTRIES)[number];

export const REGISTRY_TITLES: Record<RegistryName, string> = {
  palisade: 'Palisade',
  distribution: 'Distribution',
};

/** The figures of one round against one registry; a workload that did not run leaves its field out. */
export interface RoundFigures {
  monolithicPushMBps?: number;
  chunkedPushMBps?: number;
  pullMBps?: number;
  smallImagesPerSecond?: number;
  manifestGetRps?: number;
  manifestGetP99Ms?: number;
  /** Peak server VmRSS (MB) sampled every 100 ms during this round's big blob push(es) and pull. */
  blobPeakRssMB?: number;
  /**
   * Palisade only: the small-image burst's analyses (an SBOM per image, pushed back as referrers,
   * then matching), as images per second from the end of the burst until no job is queued or
   * running; the next workload starts only then.
   */
  imagesAnalysedPerSecond?: number;
  /** Non-2xx responses and socket errors seen by the manifest load test (should be 0). */
  manifestGetFailures?: number;
}

export type MetricKey = keyof RoundFigures;

interface MetricDefinition {
  key: MetricKey;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** How rounds are combined: the median, or the worst (max) for a memory ceiling. */
  combine: 'median' | 'max';
  /** Palisade/Distribution must be at least this (higher is better) … */
  minRatio?: number;
  /** … or Palisade's own figure must stay below this. */
  palisadeBelow?: number;
  digits: number;
}

export const METRICS: readonly MetricDefinition[] = [
  {
    key: 'monolithicPushMBps',
    label: 'blob push, monolithic',
    unit: 'MB/s',
    better: 'higher',
    combine: 'median',
    minRatio: 2,
    digits: 1,
  },
  {
    key: 'chunkedPushMBps',
    label: 'blob push, chunked 16 MiB',
    unit: 'MB/s',
    better: 'higher',
    combine: 'median',
    minRatio: 2,
    digits: 1,
  },
  {
    key: 'pullMBps',
    label: 'blob pull',
    unit: 'MB/s',
    better: 'higher',
    combine: 'median',
    minRatio: 1,
    digits: 1,
  },
  {
    key: 'smallImagesPerSecond',
    label: 'small image push, 8 concurrent',
    unit: 'images/s',
    better: 'higher',
    combine: 'median',
    minRatio: 2,
    digits: 1,
  },
  {
    key: 'manifestGetRps',
    label: 'manifest GET by tag, 64 connections',
    unit: 'req/s',
    better: 'higher',
    combine: 'median',
    minRatio: 3,
    digits: 0,
  },
  {
    key: 'manifestGetP99Ms',
    label: 'manifest GET p99 latency',
    unit: 'ms',
    better: 'lower',
    combine: 'median',
    digits: 1,
  },
  {
    key: 'imagesAnalysedPerSecond',
    label: 'image analyses after the small-image burst (Palisade only)',
    unit: 'images/s',
    better: 'higher',
    combine: 'median',
    digits: 1,
  },
  {
    key: 'blobPeakRssMB',
    label: 'server peak RSS during blob push/pull',
    unit: 'MB',
    better: 'lower',
    combine: 'max',
    palisadeBelow: 250,
    digits: 0,
  },
];

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export type Summary = Partial<Record<MetricKey, number>>;

export function summarize(rounds: readonly RoundFigures[]): Summary {
  const summary: Summary = {};
  for (const metric of METRICS) {
    const values = rounds.map((round) => round[metric.key]).filter((value) => value !== undefined);
    const combined =
      metric.combine === 'max' ? (values.length ? Math.max(...values) : undefined) : median(values);
    if (combined !== undefined) summary[metric.key] = combined;
  }
  const failures = rounds.reduce((sum, round) => sum + (round.manifestGetFailures ?? 0), 0);
  if (rounds.some((round) => round.manifestGetFailures !== undefined)) summary.manifestGetFailures = failures;
  return summary;
}

export interface RatioRow {
  metric: MetricKey;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  palisade?: number;
  distribution?: number;
  /** Palisade / Distribution. */
  ratio?: number;
  target?: string;
  /** Whether the target is met; undefined when it cannot be told from what ran. */
  met?: boolean;
}

export function compare(palisade: Summary | undefined, distribution: Summary | undefined): RatioRow[] {
  return METRICS.map((metric) => {
    const p = palisade?.[metric.key];
    const d = distribution?.[metric.key];
    const ratio = p !== undefined && d !== undefined && d > 0 ? p / d : undefined;
    let target: string | undefined;
    let met: boolean | undefined;
    if (metric.minRatio !== undefined) {
      target = `≥ ${metric.minRatio}×`;
      met = ratio === undefined ? undefined : ratio >= metric.minRatio;
    } else if (metric.palisadeBelow !== undefined) {
      target = `Palisade < ${metric.palisadeBelow} ${metric.unit}`;
      met = p === undefined ? undefined : p < metric.palisadeBelow;
    }
    return {
      metric: metric.key,
      label: metric.label,
      unit: metric.unit,
      better: metric.better,
      palisade: p,
      distribution: d,
      ratio,
      target,
      met,
    };
  });
}

function formatValue(value: number | undefined, digits: number): string {
  if (value === undefined) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function markdownTable(
  rows: readonly RatioRow[],
  failures: { palisade?: number; distribution?: number },
): string {
  const digitsOf = (key: MetricKey): number => METRICS.find((metric) => metric.key === key)?.digits ?? 1;
  const flag = (key: MetricKey, count: number | undefined): string =>
    key === 'manifestGetRps' && count ? ` ⚠ ${count} failed` : '';
  const lines = [
    '| workload | Palisade | Distribution | ratio Palisade/Distribution | target |',
    '| --- | ---: | ---: | ---: | --- |',
  ];
  for (const row of rows) {
    const digits = digitsOf(row.metric);
    const ratio = row.ratio === undefined ? '—' : `${row.ratio.toFixed(2)}× (${row.better} is better)`;
    const verdict = row.met === undefined ? '' : row.met ? ' — met' : ' — **missed**';
    lines.push(
      `| ${row.label} (${row.unit}) | ${formatValue(row.palisade, digits)}${flag(row.metric, failures.palisade)} | ` +
        `${formatValue(row.distribution, digits)}${flag(row.metric, failures.distribution)} | ${ratio} | ` +
        `${row.target ?? '—'}${verdict} |`,
    );
  }
  return lines.join('\n');
}

export interface MachineInfo {
  os: string;
  cpuModel: string;
  cpuCount: number;
  totalMemoryGiB: number;
  node: string;
}

export function machineInfo(): MachineInfo {
  const cpuList = cpus();
  return {
    os: `${platform()} ${release()} ${arch()}`,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown CPU',
    cpuCount: cpuList.length,
    totalMemoryGiB: totalmem() / 1024 ** 3,
    node: process.version,
  };
}

export function machineLine(machine: MachineInfo): string {
  return (
    `Machine: ${machine.cpuCount} × ${machine.cpuModel}, ${machine.totalMemoryGiB.toFixed(1)} GiB RAM, ` +
    `${machine.os}, Node ${machine.node}.`
  );
}
