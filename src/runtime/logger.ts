import { pino, destination, stdTimeFunctions, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: LevelWithSilent;
  format?: 'json' | 'pretty';
  /** Where log lines go; defaults to stderr (stdout stays free for command output). */
  destination?: number | string;
}

/** The process logger. Secrets never reach it: callers log names, not values. */
export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const dest = destination({ dest: opts.destination ?? 2, sync: false });
  if (opts.format === 'pretty') {
    return pino(
      {
        level,
        base: undefined,
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      prettyStream(opts.destination ?? 2),
    );
  }
  return pino({ level, base: undefined, timestamp: stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, dest);
}

/** A tiny human format: `HH:MM:SS level msg key=value ...`, without a prettifier dependency. */
function prettyStream(fd: number | string) {
  const out = destination({ dest: fd, sync: false });
  return {
    write(line: string) {
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const { time, level, msg, ...rest } = o;
        const t = typeof time === 'string' ? time.slice(11, 19) : '';
        const kv = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        out.write(`${t} ${String(level).padEnd(5)} ${String(msg ?? '')}${kv ? ' ' + kv : ''}\n`);
      } catch {
        out.write(line);
      }
    },
  };
}

/** A logger that drops everything; for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
