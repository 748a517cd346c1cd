/** Builds the DNS provider named by `--provider` from the run configuration. */
import { join } from 'node:path';
import { DnsServer } from '../../dnsserver/server.js';
import { parseTsigKeySpec } from '../../dnsserver/tsig.js';
import type { RunConfig } from '../../runtime/config.js';
import { ConfigError } from '../../runtime/config.js';
import type { Component } from '../../runtime/lifecycle.js';
import type { Logger } from '../../runtime/logger.js';
import { EmbeddedDnsProvider } from './providers/embedded.js';
import { loadRfc2136Secret, Rfc2136Provider } from './providers/rfc2136.js';
import { Route53Provider } from './providers/route53.js';
import type { DnsProvider } from './types.js';

export interface DnsBackend {
  provider: DnsProvider;
  /** Parts to start before the controller and stop after it (the embedded server). */
  components: Component[];
  server?: DnsServer;
}

export function buildDnsBackend(cfg: RunConfig, stateDir: string, logger: Logger): DnsBackend | undefined {
  switch (cfg.provider) {
    case 'none':
      return undefined;
    case 'embedded': {
      if (cfg.dnsPort === 0) return undefined;
      let keys;
      try {
        keys = cfg.dnsTsigKey.map(parseTsigKeySpec);
      } catch (err) {
        throw new ConfigError(`--dns-tsig-key: ${(err as Error).message}`);
      }
      const server = new DnsServer({ bind: cfg.bind || '0.0.0.0', port: cfg.dnsPort, zones: cfg.dnsZone, tsigKeys: keys, stateFile: join(stateDir, 'dns-records.json'), logger });
      return { provider: new EmbeddedDnsProvider(server), components: [server], server };
    }
    case 'rfc2136': {
      let secret: Buffer | undefined;
      if (!cfg.rfc2136Insecure) {
        try {
          secret = loadRfc2136Secret({ file: cfg.rfc2136TsigSecretFile || undefined });
        } catch (err) {
          throw new ConfigError((err as Error).message);
        }
      }
      return {
        provider: new Rfc2136Provider({
          host: cfg.rfc2136Host,
          port: cfg.rfc2136Port,
          zones: cfg.rfc2136Zone,
          tsig: secret ? { name: cfg.rfc2136TsigKeyname, algorithm: cfg.rfc2136TsigSecretAlg, secret } : undefined,
          tsigAxfr: cfg.rfc2136TsigAxfr,
          batchChangeSize: cfg.rfc2136BatchChangeSize,
          minTtl: cfg.rfc2136MinTtl,
        }),
        components: [],
      };
    }
    case 'aws':
      return {
        provider: new Route53Provider({
          zoneType: cfg.awsZoneType,
          zonesCacheDurationMs: cfg.awsZonesCacheDuration,
          batchChangeSize: cfg.awsBatchChangeSize,
          evaluateTargetHealth: cfg.awsEvaluateTargetHealth,
        }),
        components: [],
      };
  }
}
