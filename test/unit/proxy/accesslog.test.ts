import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessLog, MAX_BACKLOG_BYTES } from '../../../src/proxy/accesslog.js';

function sink() {
  const writes: string[] = [];
  return { writes, write: (chunk: string) => writes.push(chunk) };
}
const turn = () => new Promise<void>((r) => setImmediate(r));

test('a request is one JSON line, fields in the process logger order, written at the end of the turn', async () => {
  const out = sink();
  const log = new AccessLog(out);
  log.record('web', 'GET', 'a.test', '/p?q=1', 200, performance.now() - 1.5, 12, 'a.test|Prefix|/', 'http://10.0.0.1:80', '192.0.2.1');
  assert.equal(out.writes.length, 0, 'held until the turn ends');
  await turn();
  assert.equal(out.writes.length, 1);
  const line = out.writes[0]!;
  assert.ok(line.endsWith('}\n'));
  const o = JSON.parse(line) as Record<string, unknown>;
  assert.deepEqual(Object.keys(o), ['level', 'time', 'entrypoint', 'method', 'host', 'path', 'status', 'durationMs', 'bytes', 'route', 'upstream', 'clientIp']);
  assert.equal(o.level, 'info');
  assert.equal(new Date(o.time as string).toISOString(), o.time);
  assert.deepEqual([o.entrypoint, o.method, o.host, o.path, o.status, o.bytes, o.route, o.upstream, o.clientIp], ['web', 'GET', 'a.test', '/p?q=1', 200, 12, 'a.test|Prefix|/', 'http://10.0.0.1:80', '192.0.2.1']);
  assert.ok((o.durationMs as number) >= 1.5 && (o.durationMs as number) < 1000, `durationMs ${String(o.durationMs)}`);
});

test('what JSON must escape is escaped (quotes, backslashes, control characters, lone surrogates); other text is kept', async () => {
  const out = sink();
  const log = new AccessLog(out);
  const path = '/a"b\\c\u0001d\ud800é';
  log.record('web', 'GET', 'hôst.test', path, 404, performance.now(), 0, '', '', '::1');
  await turn();
  const o = JSON.parse(out.writes[0]!) as Record<string, unknown>;
  assert.equal(o.path, path);
  assert.equal(o.host, 'hôst.test');
  assert.equal(o.route, '');
  assert.ok(out.writes[0]!.includes('\\ud800'), 'a lone surrogate is written as an escape, not as invalid UTF-16');
});

test("a turn's lines go out together, in writes of at most 4096 bytes cut at line ends", async () => {
  const out = sink();
  const log = new AccessLog(out);
  const n = 100;
  for (let i = 0; i < n; i++) log.record('web', 'GET', `h${i}.test`, '/' + 'x'.repeat(100), 200, performance.now(), i, 'r', 'u', '127.0.0.1');
  await turn();
  assert.ok(out.writes.length > 1, `${out.writes.length} writes`);
  for (const w of out.writes) {
    assert.ok(Buffer.byteLength(w) <= 4096, `a write of ${Buffer.byteLength(w)} bytes`);
    assert.ok(w.endsWith('\n'));
  }
  const lines = out.writes.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { bytes: number });
  assert.deepEqual(lines.map((l) => l.bytes), Array.from({ length: n }, (_, i) => i), 'every line once, in order');
  // The next turn starts a new batch; flushTurn with nothing held writes nothing.
  log.flushTurn();
  const before = out.writes.length;
  log.record('web', 'GET', 'h.test', '/', 200, performance.now(), 0, 'r', 'u', '127.0.0.1');
  log.flushTurn();
  assert.equal(out.writes.length, before + 1, 'flushTurn writes what is held at once (before a stop)');
  await turn();
  assert.equal(out.writes.length, before + 1, 'and the queued end-of-turn flush finds nothing');
});

test("a turn's lines are dropped and counted while the sink has more than MAX_BACKLOG_BYTES queued (a pipe nobody reads)", async () => {
  const writes: string[] = [];
  const sinkState = { writableLength: MAX_BACKLOG_BYTES + 1 };
  const drops: number[] = [];
  const log = new AccessLog({ write: (c: string) => writes.push(c), get writableLength() { return sinkState.writableLength; } }, (n) => drops.push(n));
  for (let i = 0; i < 3; i++) log.record('web', 'GET', 'a.test', '/', 200, performance.now(), i, 'r', 'u', '127.0.0.1');
  await turn();
  assert.equal(writes.length, 0);
  assert.deepEqual(drops, [3]);
  assert.equal(log.dropped, 3);
  // Once the reader catches up, lines go out again (and only the new ones).
  sinkState.writableLength = 0;
  log.record('web', 'GET', 'a.test', '/', 200, performance.now(), 7, 'r', 'u', '127.0.0.1');
  await turn();
  assert.equal(writes.length, 1);
  assert.equal((JSON.parse(writes[0]!) as { bytes: number }).bytes, 7);
  assert.equal(log.dropped, 3);
});
