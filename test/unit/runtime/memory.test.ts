import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MEMORY = fileURLToPath(new URL('../../../src/runtime/memory.ts', import.meta.url));

/**
 * A child process fills the old generation with objects of which it keeps one in four, collects
 * once (with collectStartupGarbage, or with a plain gc()) and prints the old space's committed
 * and used bytes.
 */
function oldSpaceAfter(how: 'startup' | 'plain'): { committed: number; used: number } {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { collectStartupGarbage } from ${JSON.stringify(MEMORY)};
    const all = [];
    for (let i = 0; i < 400_000; i++) all.push({ i, name: 'object-' + i, list: [i, i + 1] });
    // Promoted by young collections while held; then three in four dropped.
    for (let i = 0; i < 8; i++) new Array(1_000_000).fill(i);
    const kept = all.filter((_, i) => i % 4 === 0);
    all.length = 0;
    ${how === 'startup' ? 'collectStartupGarbage();' : 'globalThis.gc();'}
    const s = getHeapSpaceStatistics().find((x) => x.space_name === 'old_space');
    console.log(JSON.stringify({ committed: s.space_size, used: s.space_used_size, kept: kept.length }));
  `;
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { committed: number; used: number };
}

test('collectStartupGarbage compacts: the old space it leaves is smaller than a plain full collection leaves', () => {
  const plain = oldSpaceAfter('plain');
  const startup = oldSpaceAfter('startup');
  assert.ok(Math.abs(startup.used - plain.used) < plain.used * 0.2, `the same objects live: ${startup.used} and ${plain.used} bytes`);
  assert.ok(startup.committed < plain.committed * 0.8, `old space committed: ${startup.committed} bytes compacted, ${plain.committed} plain`);
});
