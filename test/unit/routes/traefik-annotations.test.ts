import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routerOptions, serviceOptions } from '../../../src/api/traefik.js';
import { resolveBackend } from '../../../src/controllers/routes/backends.js';
import { stickyCookie } from '../../../src/proxy/handler.js';
import { service } from './fixtures.js';

const S = 'traefik.ingress.kubernetes.io/service.';
const R = 'traefik.ingress.kubernetes.io/router.';

const cookieCases: [string, Record<string, string>, RegExp][] = [
  ['name, secure, httponly, samesite, maxage', { 'sticky.cookie': 'true', 'sticky.cookie.name': 'sess', 'sticky.cookie.secure': 'true', 'sticky.cookie.httponly': 'true', 'sticky.cookie.samesite': 'strict', 'sticky.cookie.maxage': '600' }, /^sess=abc; Path=\/; Max-Age=600; HttpOnly; Secure; SameSite=Strict$/],
  ['samesite none, no flags', { 'sticky.cookie': 'true', 'sticky.cookie.name': 's2', 'sticky.cookie.samesite': 'none' }, /^s2=abc; Path=\/; SameSite=None$/],
  ['no name: named after the backend', { 'sticky.cookie': 'true' }, /^_[0-9a-f]{12}=abc; Path=\/$/],
];
for (const [name, ann, want] of cookieCases) {
  test(`sticky cookie: ${name}`, () => {
    const annotations = Object.fromEntries(Object.entries(ann).map(([k, v]) => [S + k, v]));
    const b = resolveBackend('default', 'web', { number: 80 }, service('web', [{ port: 80 }], { annotations }), []);
    assert.ok(b.sticky);
    assert.match(stickyCookie(b, 'abc'), want);
  });
}

test('service options: scheme, passhostheader and their errors', () => {
  assert.deepEqual(serviceOptions({ [S + 'serversscheme']: 'h2c', [S + 'passhostheader']: 'false' }), { scheme: 'h2c', passHostHeader: false, sticky: undefined, errors: [] });
  assert.equal(serviceOptions({}).scheme, 'http');
  assert.equal(serviceOptions({}).passHostHeader, true);
  assert.match(serviceOptions({ [S + 'serversscheme']: 'ftp' }).errors[0]!, /must be http, https or h2c/);
  assert.match(serviceOptions({ [S + 'sticky.cookie']: 'true', [S + 'sticky.cookie.samesite']: 'sideways' }).errors[0]!, /samesite/);
  assert.equal(serviceOptions({ [S + 'sticky.cookie']: 'false' }).sticky, undefined);
});

test('router options: entrypoints, tls, priority', () => {
  assert.deepEqual(routerOptions({ [R + 'entrypoints']: 'web, websecure', [R + 'tls']: 'true', [R + 'priority']: '42' }), { entrypoints: ['web', 'websecure'], tls: true, priority: 42, errors: [] });
  assert.deepEqual(routerOptions(undefined), { entrypoints: undefined, tls: false, priority: undefined, errors: [] });
  assert.match(routerOptions({ [R + 'priority']: 'high' }).errors[0]!, /priority: must be an integer/);
});

test('unusable Service annotations are reported on the backend and the default applies', () => {
  const b = resolveBackend('default', 'web', { number: 80 }, service('web', [{ port: 80 }], { annotations: { [S + 'serversscheme']: 'ftp' } }), []);
  assert.equal(b.scheme, 'http');
  assert.match(b.warnings![0]!, /serversscheme: must be http, https or h2c/);
});
