import { freePort } from './net.js';
import { requireBinary, startProc, type Proc } from './proc.js';
import { waitFor } from './wait.js';

export interface Moto {
  /** `http://127.0.0.1:PORT`, for AWS_ENDPOINT_URL or a client's `endpoint`. */
  endpoint: string;
  port: number;
  /** Dummy credentials and region for an AWS SDK client pointed at this server. */
  clientConfig: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  /** Forgets every resource (POST /moto-api/reset). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

const MOTO = process.env.MOTO_SERVER ?? '/root/.pyenv/shims/moto_server';

/** Starts one moto server (Route 53, ELBv2, EC2 ...) on a free loopback port. */
export async function startMoto(): Promise<Moto> {
  requireBinary(MOTO, "moto_server not found: pip install 'moto[server]' (or set MOTO_SERVER)");
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const proc: Proc = startProc(MOTO, ['-H', '127.0.0.1', '-p', String(port)], { name: 'moto' });
  const reset = async () => {
    const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    if (!res.ok) throw new Error(`moto reset answered ${res.status}`);
  };
  try {
    await waitFor(
      'moto_server to answer',
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`moto_server exited: ${proc.output()}`);
        await reset();
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  } catch (err) {
    await proc.stop();
    throw new Error(`${(err as Error).message}\n${proc.output()}`);
  }
  return {
    endpoint,
    port,
    clientConfig: { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } },
    reset,
    stop: async () => {
      await proc.stop();
    },
  };
}
