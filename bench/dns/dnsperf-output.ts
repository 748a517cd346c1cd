/** Parsing dnsperf's final statistics. Pure. */

export interface DnsperfResult {
  sent: number;
  completed: number;
  lost: number;
  qps: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  /** rcode name -> count, e.g. { NOERROR: 1000 }. */
  rcodes: Record<string, number>;
  runTimeS: number;
  /** Average request and response sizes in bytes. */
  requestBytes: number;
  responseBytes: number;
}

function num(text: string, re: RegExp, what: string): number {
  const m = re.exec(text);
  if (!m) throw new Error(`dnsperf output has no "${what}" line: ${text.slice(-800)}`);
  return Number(m[1]);
}

export function parseDnsperf(text: string): DnsperfResult {
  const rcodes: Record<string, number> = {};
  const rc = /Response codes:\s+(.*)/.exec(text);
  if (rc) for (const m of rc[1]!.matchAll(/([A-Z]+) (\d+) \(/g)) rcodes[m[1]!] = Number(m[2]);
  return {
    sent: num(text, /Queries sent:\s+(\d+)/, 'Queries sent'),
    completed: num(text, /Queries completed:\s+(\d+)/, 'Queries completed'),
    lost: num(text, /Queries lost:\s+(\d+)/, 'Queries lost'),
    qps: num(text, /Queries per second:\s+([\d.]+)/, 'Queries per second'),
    avgLatencyMs: num(text, /Average Latency \(s\):\s+([\d.]+)/, 'Average Latency') * 1000,
    maxLatencyMs: num(text, /Average Latency \(s\):.*max ([\d.]+)\)/, 'Average Latency max') * 1000,
    runTimeS: num(text, /Run time \(s\):\s+([\d.]+)/, 'Run time'),
    requestBytes: num(text, /Average packet size:\s+request (\d+)/, 'Average packet size'),
    responseBytes: num(text, /Average packet size:.*response (\d+)/, 'Average packet size'),
    rcodes,
  };
}
