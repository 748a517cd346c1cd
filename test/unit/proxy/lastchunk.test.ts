/** The last chunk of a chunked request body with the client's trailers (src/proxy/h1client.ts lastChunk). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastChunk } from '../../../src/proxy/h1client.js';

test('lastChunk: the trailers a proxy passes on, in order, and none of those it must not', () => {
  const cases: [string, string[] | undefined, string][] = [
    ['no trailers (a request body from a client without them)', undefined, '0\r\n\r\n'],
    ['an empty list', [], '0\r\n\r\n'],
    ['fields as sent, case kept', ['X-Checksum', 'c1', 'x-two', 'v2'], '0\r\nX-Checksum: c1\r\nx-two: v2\r\n\r\n'],
    ['hop-by-hop fields dropped', ['Connection', 'close', 'te', 'trailers', 'Proxy-Authorization', 'x', 'ok', '1'], '0\r\nok: 1\r\n\r\n'],
    ['framing and routing fields dropped', ['Content-Length', '9', 'Host', 'evil.test', 'Expect', '100-continue', 'Content-Type', 'a/b', 'ok', '1'], '0\r\nok: 1\r\n\r\n'],
    ['a value with CR or LF dropped, never written', ['x-evil', 'a\r\nGET / HTTP/1.1', 'x-evil2', 'b\nc', 'ok', '1'], '0\r\nok: 1\r\n\r\n'],
    ['an odd list ends at its last whole pair', ['a', '1', 'dangling'], '0\r\na: 1\r\n\r\n'],
  ];
  for (const [name, trailers, want] of cases) assert.equal(lastChunk(trailers), want, name);
});
