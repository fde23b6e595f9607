/**
 * compareAndSet's equality (data-equal.ts): the documented structural
 * semantics, checked against a plain quadratic oracle on random values, and
 * its bounds: large Sets of objects compare in O(n log n), values over the
 * budget, too deep or cyclic compare by bytes only.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';

import { bigIntBytes, dataEqual, decodeCost, MAX_COST, MAX_DEPTH } from '../../src/state/data-equal.js';
import { enc } from './helpers.js';

const eq = (a: unknown, b: unknown): boolean => dataEqual(enc(a), enc(b));

/** The oracle: the obvious quadratic structural equality. */
function oracle(a: unknown, b: unknown): boolean {
  if (a === b || (a !== a && b !== b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return String(a.getTime()) === String((b as Date).getTime());
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => oracle(x, (b as unknown[])[i]));
  if (a instanceof Set) {
    const ys = [...(b as Set<unknown>)];
    if (a.size !== ys.length) return false;
    const used = new Set<number>();
    return [...a].every((x) => {
      const j = ys.findIndex((y, k) => !used.has(k) && oracle(x, y));
      if (j >= 0) used.add(j);
      return j >= 0;
    });
  }
  if (a instanceof Map) {
    const ys = [...(b as Map<unknown, unknown>)];
    if (a.size !== ys.length) return false;
    const used = new Set<number>();
    return [...a].every(([k, v]) => {
      const j = ys.findIndex(([k2, v2], n) => !used.has(n) && oracle(k, k2) && oracle(v, v2));
      if (j >= 0) used.add(j);
      return j >= 0;
    });
  }
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && oracle((a as never)[k], (b as never)[k]));
}

/** Small values with few distinct leaves, so that equal pairs are common. */
const leaf = fc.constantFrom<unknown>(0, -0, 1, 1n, '1', 'a', NaN, null, undefined, true, new Date(5));
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object'), tie('set'), tie('map')),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(fc.constantFrom('a', 'b', 'c'), tie('value'), { maxKeys: 3, noNullPrototype: true }),
  set: fc.array(tie('value'), { maxLength: 3 }).map((xs) => new Set(xs)),
  map: fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((xs) => new Map(xs)),
}));

/** The same value with every object's keys, Set's and Map's members in reverse insertion order. */
function reordered(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reordered);
  if (v instanceof Set) return new Set([...v].reverse().map(reordered));
  if (v instanceof Map) return new Map([...v].reverse().map(([k, x]) => [reordered(k), reordered(x)]));
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(v)
        .reverse()
        .map(([k, x]) => [k, reordered(x)]),
    );
  }
  return v;
}

describe('dataEqual', () => {
  it('keeps the documented semantics', () => {
    expect(
      eq(
        new Map([
          ['a', 1],
          ['b', 2],
        ]),
        new Map([
          ['b', 2],
          ['a', 1],
        ]),
      ),
    ).toBe(true);
    expect(eq(new Map([['a', 1]]), new Map([['a', 2]]))).toBe(false);
    expect(eq(new Set([{ x: 1 }, { y: [2] }]), new Set([{ y: [2] }, { x: 1 }]))).toBe(true);
    expect(eq(new Set([{ x: 1 }, { x: 1 }]), new Set([{ x: 1 }, { x: 2 }]))).toBe(false);
    expect(eq(new Map([[{ k: 1 }, 'v']]), new Map([[{ k: 1 }, 'v']]))).toBe(true);
    expect(eq({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 })).toBe(true);
    expect(eq([1, 2], [2, 1])).toBe(false);
    expect(eq(NaN, NaN)).toBe(true);
    expect(eq(0, -0)).toBe(true);
    expect(eq(1, 1n)).toBe(false);
    expect(eq(1, '1')).toBe(false);
    expect(eq(null, undefined)).toBe(false);
    expect(eq([], {})).toBe(false);
    expect(eq(new Set(), new Map())).toBe(false);
    expect(eq(new Date(5), new Date(5))).toBe(true);
    expect(eq(new Date(5), new Date(6))).toBe(false);
    expect(eq(/a/g, /a/g)).toBe(true);
    expect(eq(/a/g, /a/i)).toBe(false);
    expect(eq(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(eq(new Uint8Array([1, 2]), new Int8Array([1, 2]))).toBe(false);
    expect(eq(new Error('m'), new Error('m'))).toBe(true);
    expect(eq(new Error('m'), new TypeError('m'))).toBe(false);
    expect(eq({ a: undefined }, {})).toBe(false);
  });

  it('agrees with the quadratic oracle on random values, and ignores insertion order', () => {
    fc.assert(
      fc.property(value, value, (a, b) => eq(a, b) === oracle(a, b)),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(value, (a) => eq(a, reordered(a))),
      { numRuns: 1000 },
    );
  });

  it('scans every encoding the data codec makes as well-formed, at a finite cost', () => {
    const anyValue = fc.oneof(
      value,
      fc.anything({
        withBigInt: true,
        withDate: true,
        withMap: true,
        withSet: true,
        withTypedArray: true,
        withNullPrototype: false,
        withBoxedValues: false,
        withSparseArray: false,
      }),
      fc.constantFrom<unknown>(
        new Error('e'),
        /re/gi,
        new Uint8Array(300),
        new ArrayBuffer(70_000),
        2n ** 200n,
        -(2n ** 70n),
        'x'.repeat(70_000),
        1.5,
        -1e300,
        2 ** 40,
      ),
    );
    fc.assert(
      fc.property(anyValue, (v) => {
        let bytes: Uint8Array;
        try {
          bytes = enc(v);
        } catch {
          return true; // not cloneable: never stored
        }
        return Number.isFinite(decodeCost(bytes, Infinity));
      }),
      { numRuns: 3000 },
    );
  });

  it('charges a bigint by its length: one of 4 MB is over the budget and compared by bytes only', () => {
    const huge = (1n << 32_000_000n) - 12345n;
    const bytes = enc(huge);
    expect(bigIntBytes(bytes)).toBe(bytes.length - 6);
    expect(decodeCost(bytes, MAX_COST)).toBeGreaterThan(MAX_COST);
    expect(decodeCost(enc([1, huge]), MAX_COST)).toBeGreaterThan(MAX_COST);
    expect(decodeCost(enc(2n ** 8_000_000n), MAX_COST)).toBeGreaterThan(MAX_COST);
    expect(decodeCost(enc(2n ** 4_000_000n), MAX_COST)).toBeLessThan(MAX_COST);
    expect(dataEqual(bytes, enc(huge))).toBe(true);
    expect(dataEqual(bytes, enc(huge - 1n))).toBe(false);
    // Longer than a caller's bound, or empty (msgpackr cannot decode that), it is over the limit.
    expect(decodeCost(enc({ a: 2n ** 9000n }), 100_000, 1024)).toBe(100_001);
    expect(decodeCost(enc({ a: 2n ** 8000n }), 100_000, 1024)).toBeLessThan(2_000);
    expect(decodeCost(new Uint8Array([0xc7, 0, 0x42]), 1000)).toBe(1001);
    expect(decodeCost(new Uint8Array([0xd4, 0x42, 0xff]), 1000)).toBeLessThan(1000);
    // One bigint past 64 bits, told by its header; anything else is 0.
    expect(bigIntBytes(enc(-(2n ** 70n)))).toBe(16);
    expect(bigIntBytes(new Uint8Array([0xd4, 0x42, 0xff]))).toBe(1);
    for (const v of [1n, 2n ** 63n, 'x', [2n ** 70n], new Date(0), new Uint8Array(300)]) expect(bigIntBytes(enc(v))).toBe(0);
    expect(bigIntBytes(new Uint8Array([0xc8, 0]))).toBe(0);
    expect(bigIntBytes(new Uint8Array())).toBe(0);
  });

  it('compares a Set of 20,000 objects in any order, and finds the one that differs', () => {
    const objs = Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `n${i}`, tags: [i % 7] }));
    const a = enc(new Set(objs));
    expect(dataEqual(a, enc(new Set([...objs].reverse())))).toBe(true);
    const changed = [...objs].reverse();
    changed[10_000] = { ...changed[10_000]!, tags: [99] };
    expect(dataEqual(a, enc(new Set(changed)))).toBe(false);
  });

  it('compares by bytes only past the decoding budget, too deep, or with a cycle', () => {
    const many = Array.from({ length: MAX_COST }, (_, i) => i);
    expect(decodeCost(enc(many), MAX_COST)).toBeGreaterThan(MAX_COST);
    expect(decodeCost(enc(Array.from({ length: MAX_COST / 100 }, () => new Map())), MAX_COST)).toBeGreaterThan(MAX_COST / 3);
    expect(dataEqual(enc(new Set(many)), enc(new Set(many)))).toBe(true);
    expect(dataEqual(enc(new Set(many)), enc(new Set([...many].reverse())))).toBe(false);
    // Deeper than the SDK's encoder goes (512 levels), as a raw client can send it: { d: { d: ... 1 } } by hand.
    const nested = (levels: number): number[] => [...Array.from({ length: levels }, () => [0x81, 0xa1, 0x64]).flat(), 0x01];
    const deep = Uint8Array.from(nested(MAX_DEPTH + 5));
    expect(dataEqual(deep, Uint8Array.from(deep))).toBe(true);
    // The same two entries in another order: equal structurally, but past the depth bound compared by bytes only.
    const entry = (k: number, v: number[]): number[] => [k, ...v];
    const mapOf = (...entries: number[][]): Uint8Array => Uint8Array.from([0x82, ...entries.flat()]);
    expect(dataEqual(mapOf(entry(1, nested(3)), entry(2, [2])), mapOf(entry(2, [2]), entry(1, nested(3))))).toBe(true);
    expect(dataEqual(mapOf(entry(1, nested(MAX_DEPTH + 5)), entry(2, [2])), mapOf(entry(2, [2]), entry(1, nested(MAX_DEPTH + 5))))).toBe(
      false,
    );
    const cyc: Record<string, unknown> = { a: 1 };
    cyc.self = cyc;
    expect(dataEqual(enc(cyc), enc(cyc))).toBe(true);
    expect(dataEqual(enc(cyc), enc({ self: cyc, a: 1 }))).toBe(false);
    // Malformed bytes count as over the budget.
    expect(decodeCost(new Uint8Array([0xc1]), 10)).toBe(11);
    expect(decodeCost(new Uint8Array([0xdb, 0, 0]), 10)).toBe(11);
    expect(decodeCost(new Uint8Array([0xa5, 0x61]), 10)).toBe(11);
    expect(decodeCost(enc({ a: [1, 'x', 2.5, 1n, new Map()] }), 10_000)).toBeLessThan(1_000);
  });
});
