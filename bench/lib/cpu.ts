// CPU placement for benchmarks that hold a server to one core: whether taskset can pin here, and
// pinning every thread of a process (including those it starts later) to one CPU.
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

export function canPin(): boolean {
  if (cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function pin(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}
