/** The preview of a value in a state listing: short, one line, never a costly decode; a page of them made a slice a turn. */
import { describe, expect, it } from 'vitest';
import { encodeData } from '@corepool/protocol';
import {
  PREVIEW_CHARS,
  PREVIEW_MAX_BYTES,
  Pager,
  clampLimit,
  MAX_LIST_LIMIT,
  preview,
  type ListedEntry,
} from '../src/state/state-listing.js';

describe('preview', () => {
  it('renders small values on one line', () => {
    expect(preview(encodeData(42))).toBe('42');
    expect(preview(encodeData(10n ** 30n))).toBe('1000000000000000000000000000000n');
    expect(preview(encodeData({ a: [1, 2], b: 'x\ny' }))).toBe("{ a: [ 1, 2 ], b: 'x\\ny' }");
    expect(preview(encodeData(new Map([[1, 'one']])))).toBe("Map(1) { 1 => 'one' }");
  });

  it('cuts long and deep values to PREVIEW_CHARS', () => {
    const long = preview(encodeData('z'.repeat(5000)));
    expect(long.length).toBe(PREVIEW_CHARS);
    expect(long.endsWith('…')).toBe(true);
    let deep: unknown = 0;
    for (let i = 0; i < 200; i++) deep = [deep, i];
    expect(preview(encodeData(deep)).length).toBeLessThanOrEqual(PREVIEW_CHARS);
  });

  it('shows only the size of a large, costly or undecodable value', () => {
    const big = encodeData('b'.repeat(PREVIEW_MAX_BYTES));
    expect(preview(big)).toBe(`(${big.length} bytes)`);
    const many = encodeData(Array.from({ length: 3000 }, (_, i) => ({ i })));
    expect(many.length).toBeLessThan(PREVIEW_MAX_BYTES);
    expect(preview(many)).toBe(`(${many.length} bytes)`);
    expect(preview(new Uint8Array([0xc1]))).toBe('(1 bytes)');
  });

  it('shows a long bigint in hex with its length, never in decimal; inside a structure, only the size', () => {
    expect(preview(encodeData(2n ** 8000n - 1n))).toMatch(/^\d{119}…$/);
    expect(preview(encodeData(2n ** 131_000n - 12_345n))).toBe(`0x${'f'.repeat(24)}…ffffcfc7n (131000 bits)`);
    expect(preview(encodeData(-(2n ** 9000n)))).toBe(`-0x1${'0'.repeat(23)}…00000000n (9001 bits)`);
    expect(preview(encodeData(-(2n ** 9000n) - 1n))).toBe(`-0x1${'0'.repeat(23)}…00000001n (9001 bits)`);
    expect(preview(encodeData(-(2n ** 8999n) + 1n))).toBe(`-0x7${'f'.repeat(23)}…ffffffffn (8999 bits)`);
    const nested = encodeData({ total: 2n ** 9000n });
    expect(preview(nested)).toBe(`(${nested.length} bytes)`);
    expect(preview(encodeData({ total: 2n ** 100n }))).toBe('{ total: 1267650600228229401496703205376n }');
  });

  it('clamps a page size to 1..MAX_LIST_LIMIT', () => {
    expect(clampLimit(0)).toBe(1);
    expect(clampLimit(1e9)).toBe(MAX_LIST_LIMIT);
    expect(clampLimit(7.9)).toBe(7);
  });
});

describe('a page of costly previews', () => {
  /** Holds the thread for `ms`, as a costly preview does. */
  const busy = (ms: number): void => {
    const end = performance.now() + ms;
    while (performance.now() < end);
  };

  it('is made a slice a turn: other work runs between its previews', async () => {
    // 200 entries of 0.5 ms each: in one turn, 100 ms that no other client's request could interrupt.
    const listing = function* (): Generator<ListedEntry> {
      for (let i = 0; i < 200; i++) {
        yield () => {
          busy(0.5);
          return { kind: 'value', name: `v${i}`, version: 1, bytes: 10, preview: String(i) };
        };
      }
    };
    const pager = new Pager(() => listing());
    let turns = 0;
    let done = false;
    const tick = (): void => {
      turns++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const page = await pager.page(200);
    done = true;
    expect(page.entries).toHaveLength(200);
    expect(page.entries.map((e) => e.name)).toEqual(Array.from({ length: 200 }, (_, i) => `v${i}`));
    // 100 ms of previews in slices of 2 ms: about 40 turns (one alone without the slices).
    expect(turns).toBeGreaterThan(20);
  });
});
