/** The replays' table by request id: the same answers as a Map, in request order, with segments that come and go. */
import { describe, expect, it } from 'vitest';
import { RidTable } from '../src/primary/rid-table.js';

/** A small deterministic generator, so that a failure replays. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

describe('RidTable', () => {
  it('agrees with a Map over 20,000 random operations on growing ids, in request order', () => {
    const rnd = random(7);
    const t = new RidTable<string>();
    const m = new Map<number, string>();
    let next = 0;
    for (let step = 0; step < 20_000; step++) {
      const r = rnd();
      if (r < 0.5) {
        // A new request, sometimes after a gap (reads are not kept) or a long jump.
        next += rnd() < 0.1 ? Math.floor(rnd() * 1000) : 1;
        t.set(next, `v${next}`);
        m.set(next, `v${next}`);
      } else if (r < 0.8 && m.size > 0) {
        // Acknowledged from the front, as replay.ts does (first() again after each delete), or by visiting.
        const ack = [...m.keys()][Math.floor(rnd() * Math.min(m.size, 50))]!;
        if (rnd() < 0.5) {
          for (let rid = t.first(); rid !== undefined && rid < ack; rid = t.first()) {
            expect(t.delete(rid)).toBe(true);
            m.delete(rid);
          }
        } else {
          for (const rid of t.keys()) {
            if (rid >= ack) break;
            expect(t.delete(rid)).toBe(true);
            m.delete(rid);
          }
        }
      } else {
        // Forgotten anywhere (a resend runs it again), or an id that is not there.
        const rid = Math.floor(rnd() * (next + 10));
        expect(t.delete(rid)).toBe(m.delete(rid));
      }
      expect(t.size).toBe(m.size);
      expect(t.first()).toBe(m.keys().next().value);
      if (step % 500 === 0) {
        expect([...t.keys()]).toEqual([...m.keys()]);
        expect(t.first()).toBe(m.keys().next().value);
        for (const rid of [next, next - 1, next - 300, 0]) expect(t.get(rid)).toBe(m.get(rid));
      }
    }
    expect([...t.keys()]).toEqual([...m.keys()]);
  });

  it('finds the first id after segments emptied at the front and in the middle, across the list being cut down', () => {
    const t = new RidTable<number>();
    const m = new Map<number, number>();
    // 300 segments; then every other one emptied (a resend's forget), then the front acknowledged bit by bit.
    for (let rid = 0; rid < 300 * 32; rid++) {
      t.set(rid, rid);
      m.set(rid, rid);
    }
    for (let seg = 1; seg < 300; seg += 2) {
      for (let rid = seg * 32; rid < seg * 32 + 32; rid++) {
        expect(t.delete(rid)).toBe(true);
        m.delete(rid);
      }
    }
    expect(t.first()).toBe(0);
    expect([...t.keys()]).toEqual([...m.keys()]);
    while (m.size > 0) {
      const first = m.keys().next().value!;
      expect(t.first()).toBe(first);
      expect(t.delete(first)).toBe(true);
      m.delete(first);
      if (m.size % 1000 === 0) expect([...t.keys()]).toEqual([...m.keys()]);
    }
    expect(t.first()).toBeUndefined();
    t.set(20_000, 1);
    expect(t.first()).toBe(20_000);
    expect([...t.keys()]).toEqual([20_000]);
  });

  it('keeps only the newest segment once emptied, and forgets everything on clear', () => {
    const t = new RidTable<number>();
    for (let rid = 1; rid <= 1000; rid++) {
      t.set(rid, rid);
      expect(t.delete(rid)).toBe(true);
    }
    expect(t.size).toBe(0);
    expect(t.first()).toBeUndefined();
    expect([...t.keys()]).toEqual([]);
    t.set(5, 5);
    t.set(700, 700);
    t.set(3, 3);
    expect([...t.keys()]).toEqual([3, 5, 700]);
    expect(t.get(4)).toBeUndefined();
    expect(t.get(700)).toBe(700);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.get(700)).toBeUndefined();
    expect([...t.keys()]).toEqual([]);
  });

  it('emptied after ids spread over many segments, keeps its order right when filled again (the gone segments are let go at once)', () => {
    const t = new RidTable<number>();
    for (let i = 0; i < 60; i++) t.set(i * 32, i);
    for (let i = 0; i < 60; i++) t.delete(i * 32);
    expect(t.size).toBe(0);
    expect(t.first()).toBeUndefined();
    expect([...t.keys()]).toEqual([]);
    t.set(40 * 32 + 1, 1);
    t.set(2, 2);
    t.set(40 * 32 + 5, 5);
    expect(t.first()).toBe(40 * 32 + 1);
    expect([...t.keys()]).toEqual([40 * 32 + 1, 40 * 32 + 5, 2]);
    t.delete(40 * 32 + 1);
    expect(t.first()).toBe(40 * 32 + 5);
    expect(t.get(2)).toBe(2);
  });
});
