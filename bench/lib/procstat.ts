/**
 * CPU time and memory of a process tree, read from /proc. CPU time is utime+stime of every
 * process in the tree (each process's own counters already include all of its threads).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
export const CLK_TCK = 100;

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime in clock ticks. */
  cpuTicks: number;
}

/**
 * Parses one /proc/<pid>/stat line. The command name (field 2) is in parentheses and may hold
 * spaces or parentheses itself, so fields are counted from the last ")".
 */
export function parseProcStat(line: string): ProcStat {
  const close = line.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(line.slice(0, 80))}`);
  const pid = Number(line.slice(0, line.indexOf(' ')));
  // After ")": state(3) ppid(4) ... utime(14) stime(15): index = field - 3.
  const rest = line.slice(close + 2).trim().split(/\s+/);
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (![pid, ppid, utime, stime].every(Number.isFinite)) throw new Error(`cannot read pid/ppid/utime/stime from /proc stat line: ${JSON.stringify(line.slice(0, 120))}`);
  return { pid, ppid, cpuTicks: utime + stime };
}

/** Reads VmRSS (bytes) from the text of /proc/<pid>/status; 0 for a zombie without it. */
export function parseVmRss(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // the process ended between listing and reading
  }
}

/** The pid and all of its descendants (nginx master + workers, gangplank + its workers). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(s.pid);
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

/** CPU seconds (user + system) used so far by a process tree. */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) ticks += readStat(pid)?.cpuTicks ?? 0;
  return ticks / CLK_TCK;
}

/** Resident memory of a process tree in bytes. */
export function treeRssBytes(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) {
    try {
      total += parseVmRss(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      // ended meanwhile
    }
  }
  return total;
}

export interface CpuTimes {
  /** Ticks spent not idle (user, nice, system, irq, softirq, steal). */
  busy: number;
  total: number;
}

/**
 * Reads one CPU's line ("cpu0 user nice system idle iowait irq softirq steal ...") from the text
 * of /proc/stat. Used to see how much of the measured CPU other processes took during a run.
 */
export function parseCpuLine(stat: string, cpu: number): CpuTimes {
  const line = stat.split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) throw new Error(`/proc/stat has no line for cpu${cpu}`);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  return { busy, total: busy + idle! + iowait! };
}

export function cpuTimes(cpu: number): CpuTimes {
  return parseCpuLine(readFileSync('/proc/stat', 'utf8'), cpu);
}
