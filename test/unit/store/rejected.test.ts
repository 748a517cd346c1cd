import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from '../../../src/store/store.js';
import type { TypedObject } from '../../../src/api/meta.js';

const svc = (name: string): TypedObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' } });

test('rejectedCount counts what rejected() lists: invalid documents and duplicates that lost', () => {
  const store = new Store();
  assert.equal(store.rejectedCount(), 0);
  store.replaceSource('a.yaml', [{ object: svc('web') }, { object: svc('api') }], [
    { origin: { source: 'a.yaml', doc: 3 }, kind: 'Ingress', namespace: 'default', name: 'bad', errors: [{ path: 'spec', message: 'required' }] },
  ]);
  // b.yaml defines web again, twice: two losing duplicates.
  store.replaceSource('b.yaml', [{ object: svc('web') }, { object: svc('other') }]);
  store.replaceSource('c.yaml', [{ object: svc('web') }]);
  assert.equal(store.rejected().length, 3);
  assert.equal(store.rejectedCount(), 3);
  store.replaceSource('b.yaml', []);
  store.replaceSource('a.yaml', [{ object: svc('web') }]);
  assert.equal(store.rejected().length, 1, 'c.yaml still duplicates web');
  assert.equal(store.rejectedCount(), 1);
});
