/**
 * src/proxy/headers.ts makes the fields gangplank adds to a request in two ways: as pairs and lines
 * for any request (pushAddedHeaders, addedRequestLines) and, for a connection whose forwarding
 * fields depend on nothing but the request's host, from lines made once (PeerLines). The two must
 * never drift apart: every case here is checked against the general path.
 */
import { test } from 'node:test';
import { normalizeHost } from '../../../src/proxy/normalize.js';
import assert from 'node:assert/strict';
import { addedLinesAreThePeers, addedRequestLines, droppedUpstream, newFacts, passedRequestHeaders, PeerLines, upstreamRequestHeaders, type Forwarding } from '../../../src/proxy/headers.js';

test('PeerLines gives what addedRequestLines gives, whatever hosts and TE follow each other on one connection', () => {
  const fws: Forwarding[] = [
    { trusted: false, clientIp: '10.1.2.3', proto: 'http', host: '', port: '80' },
    { trusted: true, clientIp: '::1', proto: 'https', host: '', port: '8443' },
  ];
  // Repeats: lines asked for again are rebuilt as one flat string (a second time and after).
  const seq: [string, boolean][] = [
    ['a.test', false],
    ['a.test', false],
    ['a.test', false],
    ['b.test:8080', false],
    ['b.test:8080', true],
    ['b.test:8080', true],
    ['b.test:8080', true],
    ['a.test', true],
    ['[::1]:9', false],
    ['[::1]:9', false],
  ];
  // The key only decides what is kept: a key per host, none (-1), and one key for every host (the
  // hosts are still told apart by their text).
  const keyings: [string, (host: string) => number][] = [
    ['a key per host', (h) => h.length],
    ['no key', () => -1],
    ['one key for all', () => 7],
  ];
  for (const fw of fws) for (const [keying, keyOf] of keyings) {
    const pl = new PeerLines(fw);
    for (const [host, te] of seq) {
      const f = newFacts();
      f.teTrailers = te;
      assert.ok(addedLinesAreThePeers(f, fw.trusted));
      const want = addedRequestLines(f, { ...fw, host }, host);
      assert.equal(pl.lines(host, te, keyOf(host)), want, `${fw.clientIp} ${host} ${te} (${keying})`);
      // And the lines say what the pairs say.
      const pairs = upstreamRequestHeaders([], f, { ...fw, host }, host);
      let fromPairs = '';
      for (let i = 0; i < pairs.length; i += 2) fromPairs += `${pairs[i]}: ${pairs[i + 1]}\r\n`;
      assert.equal(want, fromPairs);
    }
  }
});

test('PeerLines and addedRequestLines refuse a value that would break its line; an authority with one never reaches them', () => {
  const fw: Forwarding = { trusted: false, clientIp: '10.0.0.1', proto: 'http', host: '', port: '80' };
  assert.equal(new PeerLines({ ...fw, clientIp: '10.0.0.1\r\nx-evil: 1' }).lines('a.test', false, -1), undefined);
  assert.equal(addedRequestLines(newFacts(), { ...fw, host: 'a.test\r\nx-evil: 1' }, 'a.test\r\nx-evil: 1'), undefined);
  // PeerLines takes the authority as routing accepted it: normalizeHost refuses a line break in it.
  for (const authority of ['a.test\r\nx-evil: 1', 'a.test\nx', '[::1\r\nx-evil: 1]', '[::1]:80\r\n']) assert.equal(normalizeHost(authority), undefined, JSON.stringify(authority));
});

test('the client fields that do not go upstream as they are: hop-by-hop, forwarding, Host, Expect, in any case; names of their lengths that are none of them go', () => {
  const dropped = ['Host', 'HOST', 'host', 'Expect', 'Connection', 'Keep-Alive', 'Proxy-Connection', 'TE', 'Trailer', 'Transfer-Encoding', 'Upgrade', 'Proxy-Authenticate', 'Proxy-Authorization', 'X-Forwarded-For', 'x-forwarded-proto', 'X-Forwarded-Host', 'X-FORWARDED-PORT', 'X-Real-Ip'];
  const kept = ['Hosts', 'Hos', 'Accept', 'Cookie', 'User-Agent', 'Referer', 'Accept-Encoding', 'Accept-Language', 'X-Forwarded-Fox', 'Proxy-Authorizatio', 'Content-Length', 'X-Real-Id', 'Tf', 'Transfer_Encoding'];
  for (const n of dropped) assert.equal(droppedUpstream(n), true, n);
  for (const n of kept) assert.equal(droppedUpstream(n), false, n);
  // And so passedRequestHeaders, with a Connection-named field dropped too.
  const raw = ['Host', 'a.test', 'Accept', '*/*', 'Connection', 'x-private', 'X-Private', '1', 'Expect', '100-continue', 'x-forwarded-for', '1.2.3.4', 'User-Agent', 'ua'];
  const f = newFacts();
  f.connection = 'x-private';
  assert.deepEqual(passedRequestHeaders(raw, f), ['Accept', '*/*', 'User-Agent', 'ua']);
});
