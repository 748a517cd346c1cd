import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fromTxtName, txtNameFor, type TxtNameConfig } from '../../../src/controllers/dns/txt-name.js';

describe('ownership TXT names', () => {
  const cases: { name: string; cfg: TxtNameConfig; record: string; type: string; txt: string }[] = [
    { name: 'A, no affix', cfg: {}, record: 'www.example.com', type: 'A', txt: 'a-www.example.com' },
    { name: 'AAAA, no affix', cfg: {}, record: 'www.example.com', type: 'AAAA', txt: 'aaaa-www.example.com' },
    { name: 'CNAME, no affix', cfg: {}, record: 'www.example.com', type: 'CNAME', txt: 'cname-www.example.com' },
    { name: 'apex', cfg: {}, record: 'example.com', type: 'A', txt: 'a-example.com' },
    { name: 'single label', cfg: {}, record: 'localhost', type: 'A', txt: 'a-localhost' },
    { name: 'deep name: only the first label', cfg: {}, record: 'a.b.example.com', type: 'A', txt: 'a-a.b.example.com' },
    { name: 'wildcard without replacement', cfg: {}, record: '*.example.com', type: 'A', txt: 'a-*.example.com' },
    { name: 'wildcard with replacement', cfg: { wildcardReplacement: 'wildcard' }, record: '*.example.com', type: 'A', txt: 'a-wildcard.example.com' },
    { name: 'prefix and wildcard replacement', cfg: { prefix: 'txt-', wildcardReplacement: 'wild' }, record: '*.example.com', type: 'A', txt: 'txt-a-wild.example.com' },
    { name: 'prefix with dash', cfg: { prefix: 'foo-' }, record: 'example.com', type: 'A', txt: 'foo-a-example.com' },
    { name: 'prefix without dash', cfg: { prefix: 'foo' }, record: 'example.com', type: 'A', txt: 'fooa-example.com' },
    { name: 'prefix with dot', cfg: { prefix: 'foo.' }, record: 'example.com', type: 'CNAME', txt: 'foo.cname-example.com' },
    { name: 'prefix with dots, deeper name', cfg: { prefix: 'foo.bar.' }, record: 'www.example.com', type: 'CNAME', txt: 'foo.bar.cname-www.example.com' },
    { name: 'upper-case prefix is lowered', cfg: { prefix: 'TXT.' }, record: 'www.example.com', type: 'A', txt: 'txt.a-www.example.com' },
    { name: 'suffix', cfg: { suffix: 'foo' }, record: 'example.com', type: 'AAAA', txt: 'aaaa-examplefoo.com' },
    { name: 'suffix with dash', cfg: { suffix: '-foo' }, record: 'example.com', type: 'CNAME', txt: 'cname-example-foo.com' },
    { name: 'suffix with dot', cfg: { suffix: '.foo' }, record: 'example.com', type: 'CNAME', txt: 'cname-example.foo.com' },
    { name: 'suffix with dots', cfg: { suffix: '.foo.bar.test' }, record: 'example.com', type: 'CNAME', txt: 'cname-example.foo.bar.test.com' },
    { name: 'templated prefix', cfg: { prefix: '%{record_type}-foo' }, record: 'example.com', type: 'A', txt: 'a-fooexample.com' },
    { name: 'templated prefix, type only', cfg: { prefix: '%{record_type}-' }, record: 'www.example.com', type: 'AAAA', txt: 'aaaa-www.example.com' },
    { name: 'templated prefix with dot', cfg: { prefix: '%{record_type}foo.' }, record: 'example.com', type: 'CNAME', txt: 'cnamefoo.example.com' },
    { name: 'templated prefix with dots', cfg: { prefix: 'bar.%{record_type}.foo.' }, record: 'example.com', type: 'CNAME', txt: 'bar.cname.foo.example.com' },
    { name: 'templated suffix', cfg: { suffix: 'foo-%{record_type}' }, record: 'example.com', type: 'A', txt: 'examplefoo-a.com' },
    { name: 'templated suffix with dot', cfg: { suffix: '.foo%{record_type}' }, record: 'example.com', type: 'A', txt: 'example.fooa.com' },
    { name: 'templated suffix with dots', cfg: { suffix: '.foo%{record_type}.bar' }, record: 'example.com', type: 'A', txt: 'example.fooa.bar.com' },
    { name: 'templated suffix and wildcard replacement', cfg: { suffix: '-%{record_type}', wildcardReplacement: 'any' }, record: '*.example.com', type: 'CNAME', txt: 'any-cname.example.com' },
    { name: 'zones: split at the zone', cfg: { suffix: '-txt', zones: ['example.com'] }, record: 'a.b.example.com', type: 'A', txt: 'a-a.b-txt.example.com' },
    { name: 'zones: longest zone wins', cfg: { suffix: '-txt', zones: ['example.com', 'b.example.com'] }, record: 'a.b.example.com', type: 'A', txt: 'a-a-txt.b.example.com' },
    { name: 'zones: apex splits at the first dot', cfg: { suffix: '-txt', zones: ['example.com'] }, record: 'example.com', type: 'A', txt: 'a-example-txt.com' },
    { name: 'zones: no change without affix', cfg: { zones: ['example.com'] }, record: 'a.b.example.com', type: 'A', txt: 'a-a.b.example.com' },
  ];
  for (const c of cases) {
    test(`${c.name}: ${c.type} ${c.record} -> ${c.txt}`, () => {
      assert.equal(txtNameFor(c.record, c.type, c.cfg), c.txt);
      const back = fromTxtName(c.txt, c.cfg);
      const expectName = c.cfg.wildcardReplacement ? c.record.replace(/^\*/, c.cfg.wildcardReplacement) : c.record;
      assert.deepEqual(back, { name: expectName, type: c.type });
    });
  }

  const reads: { name: string; cfg: TxtNameConfig; txt: string; want: { name: string; type: string } | undefined }[] = [
    { name: 'old format (no type)', cfg: {}, txt: 'www.example.com', want: { name: 'www.example.com', type: '' } },
    { name: 'old format with prefix', cfg: { prefix: 'txt.' }, txt: 'txt.www.example.com', want: { name: 'www.example.com', type: '' } },
    { name: 'old format with templated prefix', cfg: { prefix: 'foo-%{record_type}-' }, txt: 'foo--test.example.com', want: { name: 'test.example.com', type: '' } },
    { name: 'old format with suffix', cfg: { suffix: '-txt' }, txt: 'www-txt.example.com', want: { name: 'www.example.com', type: '' } },
    { name: 'prefix does not match', cfg: { prefix: 'txt.' }, txt: 'a-www.example.com', want: undefined },
    { name: 'suffix does not match', cfg: { suffix: '-txt' }, txt: 'a-www.example.com', want: undefined },
    { name: 'other types are recognized', cfg: {}, txt: 'mx-mail.example.com', want: { name: 'mail.example.com', type: 'MX' } },
    { name: 'upper case and trailing dot', cfg: {}, txt: 'A-WWW.Example.com.', want: { name: 'www.example.com', type: 'A' } },
  ];
  for (const c of reads) {
    test(`read ${c.name}: ${c.txt}`, () => assert.deepEqual(fromTxtName(c.txt, c.cfg), c.want));
  }

  test('prefix and suffix together are refused', () => {
    assert.throws(() => txtNameFor('www.example.com', 'A', { prefix: 'p-', suffix: '-s' }), /mutually exclusive/);
  });
});
