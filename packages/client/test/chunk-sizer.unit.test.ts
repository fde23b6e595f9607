/** Automatic chunk sizing aims each chunk at a few milliseconds of work. */
import { describe, expect, it } from 'vitest';
import {
  CHUNK_TARGET_MS,
  CUT_MAX_PAYLOAD_BYTES,
  CUT_SOLO_CHUNK_TARGET_MS,
  MAX_CHUNK_ITEMS,
  SOLO_CHUNK_TARGET_MS,
} from '@corepool/protocol/internal';
import { ChunkSizer } from '../src/chunk-sizer.js';

describe('ChunkSizer', () => {
  it('sends one item per chunk until it has measured the cost', () => {
    expect(new ChunkSizer(undefined).next()).toBe(1);
  });
  it('grows tiny items to large chunks and keeps heavy items single', () => {
    const tiny = new ChunkSizer(undefined);
    tiny.observe(1000, 0.05);
    expect(tiny.next()).toBe(MAX_CHUNK_ITEMS);
    const mid = new ChunkSizer(undefined);
    mid.observe(10, 10); // 1 ms per item
    expect(mid.next()).toBe(CHUNK_TARGET_MS);
    const heavy = new ChunkSizer(undefined);
    heavy.observe(1, 500);
    expect(heavy.next()).toBe(1);
  });
  it("aims at the daemon's solo length while the client is alone (SOLO_CHUNK_TARGET_MS if it says none), at CHUNK_TARGET_MS beside others", () => {
    const daemonSays = new ChunkSizer(undefined, CUT_SOLO_CHUNK_TARGET_MS);
    daemonSays.observe(10, 10, 1); // 1 ms per item, alone
    expect(daemonSays.next()).toBe(CUT_SOLO_CHUNK_TARGET_MS);
    daemonSays.observe(10, 10, 2);
    expect(daemonSays.next()).toBe(CHUNK_TARGET_MS);
    const older = new ChunkSizer(undefined);
    older.observe(10, 10, 1);
    expect(older.next()).toBe(SOLO_CHUNK_TARGET_MS);
  });
  it('aims past SOLO_CHUNK_TARGET_MS only while a chunk stays small enough to be cut short (CUT_MAX_PAYLOAD_BYTES)', () => {
    const big = new ChunkSizer(undefined, CUT_SOLO_CHUNK_TARGET_MS);
    big.observe(10, 10, 1); // 1 ms per item, alone
    big.sent(10, 30_000); // 3 KB an item: a chunk small enough to cut holds 21, under a 100 ms chunk
    expect(big.next()).toBe(SOLO_CHUNK_TARGET_MS);
    const mid = new ChunkSizer(undefined, CUT_SOLO_CHUNK_TARGET_MS);
    mid.observe(10, 10, 1);
    mid.sent(10, 3000); // 300 bytes an item: 500 would be 150 KB, 218 fit
    expect(mid.next()).toBe(Math.floor(CUT_MAX_PAYLOAD_BYTES / 300));
    const small = new ChunkSizer(undefined, CUT_SOLO_CHUNK_TARGET_MS);
    small.observe(10, 10, 1);
    small.sent(10, 50);
    expect(small.next()).toBe(CUT_SOLO_CHUNK_TARGET_MS);
  });
  it('shrinks chunks towards the end of the batch, but not below 1 ms of work', () => {
    // 1 ms items: the tail goes down to single items, so the workers finish together.
    const ms = new ChunkSizer(undefined);
    ms.observe(10, 10);
    expect(ms.next(40, 2)).toBe(10);
    expect(ms.next(3, 2)).toBe(1);
    // 10 us items: a tail chunk keeps at least 100 of them, however few are left beyond that.
    const fast = new ChunkSizer(undefined);
    fast.observe(1000, 10);
    expect(fast.next(1_000, 2)).toBe(250);
    expect(fast.next(200, 2)).toBe(100);
    expect(fast.next(30, 2)).toBe(100);
    // Too fast to measure: no cut at the tail at all.
    const free = new ChunkSizer(undefined);
    free.observe(1000, 0);
    expect(free.next(7, 2)).toBe(MAX_CHUNK_ITEMS);
  });
  it('honours a fixed chunkSize and caps by bytes', () => {
    expect(new ChunkSizer(7).next()).toBe(7);
    const s = new ChunkSizer(undefined);
    s.observe(1000, 0.01);
    s.fitBytes(60_000, 4_000_000, 1_000_000);
    expect(s.next()).toBe(15_000);
  });
});
