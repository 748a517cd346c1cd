#!/usr/bin/env node
/** The gangplank command line: run, demo, version. */
import { readFileSync, statSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, RUN_OPTIONS, resolveConfig, type RunConfig } from '../runtime/config.js';
import { startApp } from '../runtime/app.js';
import { createLogger } from '../runtime/logger.js';
import { runDemo } from './demo.js';
import { untilSignal } from '../runtime/signals.js';
import { isWorkerProcess, runWorker } from '../runtime/workers.js';
import { applyHeapPolicy } from '../runtime/memory.js';

applyHeapPolicy();

const EXIT_USAGE = 2;

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Adds every run option as a flag; values stay raw strings here and are checked by resolveConfig. */
export function addRunOptions(cmd: Command): Command {
  cmd.option('--config <file>', 'YAML file with the same keys as the long flags (flags win)');
  for (const o of RUN_OPTIONS) {
    const def = Array.isArray(o.default) ? (o.default.length ? o.default.join(',') : undefined) : o.default === '' ? undefined : String(o.default);
    const opt = new Option(`--${o.flag} <${o.kind === 'port' ? 'port' : o.kind === 'ms' ? 'duration' : 'value'}>`, o.help + (def !== undefined ? ` (default: ${def})` : ''));
    if (o.kind === 'strings') opt.argParser(collect);
    cmd.addOption(opt);
  }
  return cmd;
}

export function configFromCommand(cmd: Command): RunConfig {
  const opts = cmd.opts() as Record<string, unknown>;
  const cli: Record<string, unknown> = {};
  for (const o of RUN_OPTIONS) {
    const attr = o.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (cmd.getOptionValueSource(attr) === 'cli') cli[o.flag] = opts[attr];
  }
  return resolveConfig(cli, opts.config as string | undefined);
}

async function run(cmd: Command): Promise<void> {
  const cfg = configFromCommand(cmd);
  if (!cfg.manifests.length && !cfg.kubeconfig) throw new ConfigError('--manifests: give at least one directory of Kubernetes manifests, or --kubeconfig (flag or config file)');
  for (const d of cfg.manifests) if (!statSync(d, { throwIfNoEntry: false })?.isDirectory()) throw new ConfigError(`--manifests ${d}: no such directory`);
  const logger = createLogger({ level: cfg.logLevel, format: cfg.logFormat });
  const app = await startApp(cfg, logger);
  const sig = await untilSignal();
  logger.info({ signal: sig }, 'shutting down');
  await app.stop();
  // Anything still holding the event loop open after a clean stop must not keep the process alive.
  setTimeout(() => process.exit(0), 2000).unref();
}

export function buildProgram(): Command {
  const program = new Command('gangplank')
    .description('Expose Kubernetes workloads: edge router, DNS, certificates and load balancers in one system')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  addRunOptions(program.command('run').description('serve the Ingresses of manifests directories (embedded mode)')).action(async (_o, cmd: Command) => run(cmd));
  program
    .command('demo')
    .description('start demo backends and serve examples/ (what `npm start` runs)')
    .option('--http-port <port>', 'web entrypoint port', '8080')
    .option('--https-port <port>', 'websecure entrypoint port', '8443')
    .option('--admin-port <port>', 'admin API port', '9090')
    .option('--dns-port <port>', 'embedded DNS server port', '15353')
    .action(async (o: { httpPort: string; httpsPort: string; adminPort: string; dnsPort: string }) =>
      runDemo({ httpPort: Number(o.httpPort), httpsPort: Number(o.httpsPort), adminPort: Number(o.adminPort), dnsPort: Number(o.dnsPort) }),
    );
  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`gangplank ${version()}\n`);
    });
  for (const c of program.commands) c.exitOverride();
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are not errors.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return 0;
      if (err.code === 'commander.executeSubCommandAsync') return err.exitCode;
      return EXIT_USAGE;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`gangplank: ${err.message}\n`);
      return EXIT_USAGE;
    }
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ' (another process uses this port; choose another with the matching --*-port flag)' : e.code === 'EACCES' ? ' (permission denied: ports below 1024 need privileges)' : '';
    process.stderr.write(`gangplank: ${e.message}${hint}\n`);
    return 1;
  }
}

if (isWorkerProcess()) {
  runWorker().catch((err: Error) => {
    process.stderr.write(`gangplank worker: ${err.stack}\n`);
    process.exit(1);
  });
} else
main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`gangplank: ${err.stack}\n`);
    process.exitCode = 1;
  },
);
