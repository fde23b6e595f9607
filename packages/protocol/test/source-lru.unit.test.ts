/**
 * SourceLru, and the property both channels rely on: fed the same messages, an
 * LRU with the sender's bounds never keeps a hash the receiver's LRU has
 * evicted, so a receiver sent only a hash always has its source (the primary
 * and a worker; a client and its connection in the primary).
 */
import { describe, expect, it } from 'vitest';
import { CLIENT_SOURCES, CONNECTION_SOURCES, PRIMARY_SOURCES, SourceLru, WORKER_SOURCES, type SourceBounds } from '../src/source-lru.js';

/** What both ends do for one run message of `hash` (source length `chars`). */
function touchOrSet(lru: SourceLru, hash: string, chars: number): void {
  if (!lru.touch(hash)) lru.set(hash, chars, undefined);
}

describe('SourceLru', () => {
  it('evicts the least recently used past its count or its total length', () => {
    const lru = new SourceLru({ count: 3, chars: 100 });
    for (const h of ['a', 'b', 'c']) lru.set(h, 10, undefined);
    expect(lru.touch('a')).toBe(true);
    lru.set('d', 10, undefined); // b is the least recently used
    expect(['a', 'b', 'c', 'd'].map((h) => lru.touch(h))).toEqual([true, false, true, true]);
    lru.set('big', 90, undefined); // over 100 characters: the oldest go until it fits
    expect(lru.chars).toBeLessThanOrEqual(100);
    expect(lru.touch('big')).toBe(true);
    lru.set('huge', 500, undefined); // alone over the bound: kept by neither end, sent every time
    expect(lru.size).toBe(0);
    expect(lru.touch('huge')).toBe(false);
  });

  it('touching the most recent entry again changes nothing; the one before it is still next to last', () => {
    const lru = new SourceLru({ count: 3, chars: 100 });
    for (const h of ['a', 'b', 'c']) lru.set(h, 10, undefined);
    expect(lru.touch('a')).toBe(true);
    expect(lru.touch('a')).toBe(true); // already the newest: a no-op
    expect(lru.touch('a')).toBe(true);
    lru.set('d', 10, undefined); // b is the least recently used
    expect(lru.peek('b')).toBeUndefined();
    lru.set('e', 10, undefined); // then c
    expect(['a', 'c', 'd', 'e'].map((h) => lru.touch(h))).toEqual([true, false, true, true]);
  });

  it("fed the same touches, the sender's LRU is always within the receiver's", () => {
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const cases: [SourceBounds, SourceBounds][] = [
      [PRIMARY_SOURCES, WORKER_SOURCES],
      [CLIENT_SOURCES, CONNECTION_SOURCES],
      [
        { count: 3, chars: 50 },
        { count: 4, chars: 60 },
      ],
      [
        { count: 5, chars: 1000 },
        { count: 5, chars: 1000 },
      ],
    ];
    for (const [pb, wb] of cases) {
      const primary = new SourceLru(pb);
      const worker = new SourceLru(wb);
      const hashes = Array.from({ length: 40 }, (_, i) => ({
        hash: `h${i}`,
        chars: 1 + random(pb.chars > 1000 ? pb.chars / 6 : 30),
      }));
      for (let step = 0; step < 20_000; step++) {
        const { hash, chars } = hashes[random(hashes.length)]!;
        const known = primary.touch(hash);
        if (!known) primary.set(hash, chars, undefined);
        // The worker receives the run message: with only the hash when the primary knew it.
        if (known) expect(worker.touch(hash)).toBe(true);
        else touchOrSet(worker, hash, chars);
      }
    }
  });
});
