/** Black-box: `gangplank demo` (what `npm start` runs) serves the examples over http, https and DNS, and stops on Ctrl-C. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BIN, tempDir } from '../harness/gangplank.js';
import { freePort } from '../harness/net.js';
import { startProc } from '../harness/proc.js';
import { waitFor } from '../harness/wait.js';

const exec = promisify(execFile);

test('gangplank demo: routes, https with certificates from the demo CA, DNS, clean stop', async () => {
  const dir = await tempDir();
  const [http, https, admin, dns] = [await freePort(), await freePort(), await freePort(), await freePort({ udp: true })];
  const p = startProc(process.execPath, [BIN, 'demo', '--http-port', String(http), '--https-port', String(https), '--admin-port', String(admin), '--dns-port', String(dns)], { cwd: dir.path });
  try {
    await waitFor('demo certificates ready', async () => {
      const res = await fetch(`http://127.0.0.1:${admin}/api/certificates`).catch(() => undefined);
      const certs = res?.ok ? ((await res.json()) as { name: string; ready: string }[]) : [];
      return certs.length >= 3 && certs.every((c) => c.ready === 'True');
    }, { timeoutMs: 30_000 });
    assert.match(p.output(), /gangplank demo is running/);
    const redirect = await exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '-H', 'Host: shop.demo.localhost', `http://127.0.0.1:${http}/api/orders`]);
    assert.equal(redirect.stdout, `301 https://shop.demo.localhost:${https}/api/orders`);
    await waitFor('https routes to the api backend', async () => {
      const { stdout } = await exec('curl', ['-sk', '--resolve', `shop.demo.localhost:${https}:127.0.0.1`, `https://shop.demo.localhost:${https}/api/orders`]);
      return (JSON.parse(stdout) as { backend: string }).backend === 'api';
    });
    const { stdout: issuer } = await exec('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${https} -servername v2.docs.demo.localhost 2>/dev/null | openssl x509 -noout -issuer`]);
    assert.match(issuer, /gangplank demo CA/);
    const h2 = await exec('curl', ['-sk', '--http2', '-o', '/dev/null', '-w', '%{http_version}', '--resolve', `v2.docs.demo.localhost:${https}:127.0.0.1`, `https://v2.docs.demo.localhost:${https}/guide`]);
    assert.equal(h2.stdout, '2');
    await waitFor('DNS answers for the demo host', async () => (await exec('dig', ['@127.0.0.1', '-p', String(dns), '+short', 'shop.demo.localhost', 'A'])).stdout.trim() === '127.0.0.1');
    p.child.kill('SIGINT');
    assert.equal(await p.exited, 0);
  } finally {
    await p.stop();
    await dir.remove();
  }
});
