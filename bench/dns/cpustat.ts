/** How busy one CPU was between two readings of /proc/stat (is the load generator the limit?). */
import { readFileSync } from 'node:fs';

export interface CpuTimes {
  busy: number;
  total: number;
}

/** Parses the `cpuN` line of /proc/stat text. Pure. */
export function cpuTimes(procStat: string, cpu: number): CpuTimes {
  const line = procStat.split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) throw new Error(`/proc/stat has no line for cpu${cpu}`);
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export function readCpu(cpu: number): CpuTimes {
  return cpuTimes(readFileSync('/proc/stat', 'utf8'), cpu);
}

/** Busy fraction (0..1) of the CPU between two readings. */
export function busyFraction(a: CpuTimes, b: CpuTimes): number {
  const t = b.total - a.total;
  return t > 0 ? (b.busy - a.busy) / t : 0;
}
