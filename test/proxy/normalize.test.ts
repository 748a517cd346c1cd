import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeHost, normalizePath, parseTarget, removeDotSegments } from '../../src/proxy/normalize.js';

test('normalizePath: decodes unreserved, removes dot segments, keeps // and encoded slashes', () => {
  const cases: [string, string | undefined][] = [
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/..', '/'],
    ['/../../x', '/x'],
    ['/%2e%2e/x', '/x'],
    ['/%2E%2e/x', '/x'],
    ['/a/%2e/b', '/a/b'],
    ['/a/.%2e/b', '/b'],
    ['/%41', '/A'],
    ['/%7e%5F%2D', '/~_-'],
    ['//x', '//x'],
    ['/a//b/../c', '/a//c'],
    ['//../x', '/x'],
    ['/a%2Fb', '/a%2Fb'],
    ['/a%2fb', '/a%2Fb'],
    ['/a%2F..%2Fb', '/a%2F..%2Fb'],
    ['/a%20b', '/a%20b'],
    ['/.hidden', '/.hidden'],
    ['/a.b/c..d', '/a.b/c..d'],
    ['/a|b', '/a%7Cb'],
    ['/caf\u00e9', '/caf%E9'],
    ['/%', undefined],
    ['/%4', undefined],
    ['/%zz', undefined],
    ['/a\u0001', undefined],
    ['/a b', undefined],
    ['/a#frag', undefined],
    ['a/b', undefined],
    ['', undefined],
  ];
  for (const [input, want] of cases) assert.equal(normalizePath(input), want, JSON.stringify(input));
});

test('removeDotSegments follows RFC 3986 5.2.4 examples', () => {
  assert.equal(removeDotSegments('/a/b/c/./../../g'), '/a/g');
  assert.equal(removeDotSegments('/mid/content=5/../6'), '/mid/6');
});

test('parseTarget: origin-form and absolute-form; garbage refused', () => {
  const cases: [string, { path: string; query: string; host: string | undefined } | undefined][] = [
    ['/p?q=1', { path: '/p', query: '?q=1', host: undefined }],
    ['/a/../b?x=/../y', { path: '/b', query: '?x=/../y', host: undefined }],
    ['/?', { path: '/', query: '?', host: undefined }],
    ['http://Example.com', { path: '/', query: '', host: 'Example.com' }],
    ['http://example.com?x', { path: '/', query: '?x', host: 'example.com' }],
    ['HTTP://example.com:8080/a/./b', { path: '/a/b', query: '', host: 'example.com:8080' }],
    ['https://[::1]:8443/x', { path: '/x', query: '', host: '[::1]:8443' }],
    ['*', undefined],
    ['example.com:443', undefined],
    ['ftp://example.com/', undefined],
    ['http://user@example.com/', undefined],
    ['http:///x', undefined],
    ['/x?a#b', undefined],
    ['/x%', undefined],
  ];
  for (const [input, want] of cases) assert.deepEqual(parseTarget(input), want, input);
});

test('normalizeHost: lower case, no port, no trailing dot', () => {
  const cases: [string, string | undefined][] = [
    ['Example.COM', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com.:80', 'example.com'],
    ['[::1]:80', '[::1]'],
    ['[::1]', '[::1]'],
    ['127.0.0.1:80', '127.0.0.1'],
    ['', ''],
    ['a b', undefined],
    ['a/b', undefined],
    ['user@host', undefined],
    ['host:80x', undefined],
    ['[::1', undefined],
    ['[::1\r\nx-injected: 1]', undefined],
    ['[::1 ]', undefined],
    ['[::1/64]', undefined],
    ['[[::1]', undefined],
    ['[fe80::1%25eth0]:8080', '[fe80::1%25eth0]'],
    ['[FE80::A]', '[fe80::a]'],
  ];
  for (const [input, want] of cases) assert.equal(normalizeHost(input), want, input);
});
