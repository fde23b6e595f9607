/** map's result layout: ranges joined in order, nested arrays kept as items, any number of ranges. */
import { describe, expect, it } from 'vitest';
import { joinRanges } from '../src/join-ranges.js';

describe('joinRanges', () => {
  it('joins ranges in order and keeps array items whole', () => {
    const out = joinRanges([
      [0, [1, [2, 3]]],
      [2, []],
      [2, [[], 'x', { a: [4] }]],
    ]);
    expect(out).toEqual([1, [2, 3], [], 'x', { a: [4] }]);
  });

  it('joins more one-item ranges than one concat call takes (20,000 and 100,000)', () => {
    for (const n of [20_000, 100_000]) {
      const ranges = Array.from({ length: n }, (_, i) => [i, [[i]]] as const);
      const out = joinRanges(ranges);
      expect(out.length).toBe(n);
      expect(out[0]).toEqual([0]);
      expect(out[n - 1]).toEqual([n - 1]);
      expect(out.every((v, i) => Array.isArray(v) && v[0] === i)).toBe(true);
    }
  });

  it('returns an empty array for no ranges', () => {
    expect(joinRanges([])).toEqual([]);
  });
});
