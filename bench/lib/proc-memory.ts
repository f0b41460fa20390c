// Memory figures for the registry benchmark, read from Linux /proc: which process actually serves
// a port (the server, not a wrapper such as npx or a shell), and a 100 ms VmRSS sampler whose
// peak is what the benchmark reports for the big blob transfers.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

function readStatusField(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/** Current resident set size in bytes, or undefined when the process is gone. */
export function readRssBytes(pid: number): number | undefined {
  return readStatusField(pid, 'VmRSS');
}

/** Peak resident set size over the process's life (kernel high-water mark), in bytes. */
export function readPeakRssBytes(pid: number): number | undefined {
  return readStatusField(pid, 'VmHWM');
}

function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: parse after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return undefined;
  }
}

/** `root` and all its descendants, parents before children. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const parent = parentPid(pid);
    if (parent === undefined) continue;
    const siblings = children.get(parent) ?? [];
    siblings.push(pid);
    children.set(parent, siblings);
  }
  const tree = [root];
  for (let index = 0; index < tree.length; index++) tree.push(...(children.get(tree[index]!) ?? []));
  return tree;
}

function listeningSocketInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const columns = line.trim().split(/\s+/);
      if (columns.length < 10) continue;
      const localPort = parseInt(columns[1]!.split(':')[1] ?? '', 16);
      if (localPort === port && columns[3] === '0A') inodes.add(columns[9]!); // 0A = LISTEN
    }
  }
  return inodes;
}

/**
 * The pid, among `root` and its descendants, that holds the socket listening on `port`; `root`
 * itself when that cannot be told (e.g. no permission to read another user's fds).
 */
export function findListeningPid(root: number, port: number): number {
  const inodes = listeningSocketInodes(port);
  if (inodes.size === 0) return root;
  for (const pid of processTree(root)) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match && inodes.has(match[1]!)) return pid;
      } catch {
        // fd closed while we looked
      }
    }
  }
  return root;
}

/** Samples a process's VmRSS on a timer and keeps the peak. */
export class RssSampler {
  private readonly pid: number;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private peak = 0;
  private count = 0;

  constructor(pid: number, intervalMs = 100) {
    this.pid = pid;
    this.intervalMs = intervalMs;
  }

  private sample(): void {
    const rss = readRssBytes(this.pid);
    if (rss === undefined) return;
    this.count++;
    if (rss > this.peak) this.peak = rss;
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling; returns the peak VmRSS in bytes seen since start() (with a final sample). */
  stop(): { peakBytes: number; samples: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return { peakBytes: this.peak, samples: this.count };
  }
}

/** Runs `task` while sampling `pid`'s RSS (when a pid is given); returns the task's result and the peak. */
export async function withRssSampling<T>(
  pid: number | undefined,
  task: () => Promise<T>,
): Promise<{ result: T; peakRssBytes: number | undefined }> {
  if (pid === undefined) return { result: await task(), peakRssBytes: undefined };
  const sampler = new RssSampler(pid);
  sampler.start();
  try {
    const result = await task();
    return { result, peakRssBytes: sampler.stop().peakBytes };
  } finally {
    sampler.stop();
  }
}
