/** Summarises a V8 .cpuprofile (from `node --cpu-prof`) into the functions with the most self time. */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  /** "function (file:line)" with the file relative to the repository or node_modules. */
  name: string;
  ms: number;
  share: number;
}

function shortUrl(url: string): string {
  if (!url) return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + 1);
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

/**
 * Self time per function: each sample is charged to the node on top of the stack, with the time
 * delta to the next sample. Nodes of the same function (several call paths) are summed. Shares
 * are of the busy time (idle excluded), which is reported apart.
 */
/** V8's "(idle)" pseudo-frame: the thread waiting for events, not work; left out of shares. */
const IDLE = '(idle)';

export function topSelfTime(p: CpuProfile, limit = 15): { total: number; idle: number; top: SelfTime[] } {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]!);
    // The delta *after* a sample is the time it stood for; the last sample gets none.
    const us = p.timeDeltas[i + 1] ?? 0;
    if (!n || us <= 0) continue;
    const f = n.callFrame;
    if (f.functionName === IDLE && !f.url) {
      idle += us;
      continue;
    }
    const where = shortUrl(f.url);
    const key = `${f.functionName || '(anonymous)'}${where ? ` (${where}:${f.lineNumber + 1})` : ''}`;
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  }
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({ name, ms: us / 1000, share: total ? us / total : 0 }));
  return { total: total / 1000, idle: idle / 1000, top };
}

/**
 * Which part of the stack a call frame belongs to: gangplank's own modules by folder, npm packages
 * by name, Node's internals by module, and V8's pseudo-frames (GC, idle, program) as they are.
 */
export function areaOf(f: CallFrame): string {
  const url = f.url;
  if (!url) return f.functionName.startsWith('(') ? f.functionName : `native: ${f.functionName || '(anonymous)'}`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return `npm: ${parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return `gangplank: ${url.slice(dist + '/dist/'.length).split('/').slice(0, -1).join('/') || '.'}`;
  if (url.startsWith('node:')) {
    const m = /^node:(?:internal\/)?([^/]+)/.exec(url);
    const mod = m?.[1] ?? url;
    return `node: ${/^_?http|streams|stream_base/.test(mod) ? mod.replace(/^_/, '') : mod}`;
  }
  if (url.startsWith('wasm://')) return 'wasm (undici llhttp parser)';
  return url;
}

/** Self time summed per area (see areaOf), idle left out. */
export function selfTimeByArea(p: CpuProfile, limit = 12): SelfTime[] {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const acc = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]!);
    const us = p.timeDeltas[i + 1] ?? 0;
    if (!n || us <= 0 || (n.callFrame.functionName === IDLE && !n.callFrame.url)) continue;
    const a = areaOf(n.callFrame);
    acc.set(a, (acc.get(a) ?? 0) + us);
    total += us;
  }
  return [...acc.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({ name, ms: us / 1000, share: total ? us / total : 0 }));
}
