import { test } from 'node:test';
import assert from 'node:assert/strict';
test('ts runs', () => { const n: number = 2; assert.equal(n + 1, 3); });
