import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLabels, parseLabels } from '../../../src/controllers/dns/labels.js';

describe('ownership TXT values (ExternalDNS label format)', () => {
  const exact: { labels: Record<string, string>; text: string }[] = [
    {
      labels: { owner: 'default', resource: 'ingress/default/web' },
      text: 'heritage=external-dns,external-dns/owner=default,external-dns/resource=ingress/default/web',
    },
    {
      labels: { resource: 'service/shop/api', owner: 'cluster-a' },
      text: 'heritage=external-dns,external-dns/owner=cluster-a,external-dns/resource=service/shop/api',
    },
    { labels: { owner: 'x' }, text: 'heritage=external-dns,external-dns/owner=x' },
    { labels: {}, text: 'heritage=external-dns' },
  ];
  for (const c of exact) {
    test(`format ${c.text}`, () => {
      assert.equal(formatLabels(c.labels), c.text);
      assert.equal(formatLabels(c.labels, { quoted: true }), `"${c.text}"`);
    });
    test(`round trip ${c.text}`, () => {
      assert.deepEqual(parseLabels(c.text), c.labels);
      assert.deepEqual(parseLabels(`"${c.text}"`), c.labels);
      assert.equal(formatLabels(parseLabels(c.text)!), c.text);
    });
  }

  const parseCases: [string, Record<string, string> | undefined][] = [
    ['"heritage=external-dns,external-dns/owner=default"', { owner: 'default' }],
    ['heritage=external-dns,external-dns/owner=a,external-dns/resource=ingress/ns/n,external-dns/extra=1', { owner: 'a', resource: 'ingress/ns/n', extra: '1' }],
    ['external-dns/owner=a,heritage=external-dns', { owner: 'a' }],
    ['heritage=external-dns,garbage,external-dns/owner=a,a=b=c', { owner: 'a' }],
    ['heritage=external-dns,other/owner=a', {}],
    ['heritage=something-else,external-dns/owner=a', undefined],
    ['external-dns/owner=a', undefined],
    ['v=spf1 include:_spf.example.com ~all', undefined],
    ['', undefined],
  ];
  for (const [text, want] of parseCases) {
    test(`parse ${JSON.stringify(text)}`, () => assert.deepEqual(parseLabels(text), want));
  }
});
