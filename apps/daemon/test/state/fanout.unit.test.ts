/**
 * Fanout: a committed change's push reaches each subscriber once, and the time
 * it took is charged to the owner that wrote it; a change whose commit failed
 * pushes and charges nothing, nor does a change nobody subscribes to.
 */
import { describe, expect, it } from 'vitest';
import type { Push } from '@corepool/protocol';

import { Fanout } from '../../src/state/fanout.js';
import { Subscribers } from '../../src/state/owner-index.js';

const push: Push = { type: 'push', kind: 'value', name: 'v', version: 1, value: new Uint8Array(4) };

function setup(): { fanout: Fanout; subs: Subscribers; got: string[]; charged: [string, number][] } {
  const got: string[] = [];
  const charged: [string, number][] = [];
  const fanout = new Fanout((owner) => {
    got.push(owner);
    // Some work, so the time measured is above zero.
    const until = performance.now() + 0.2;
    while (performance.now() < until);
  });
  fanout.charge = (writer, ms) => charged.push([writer, ms]);
  return { fanout, subs: new Subscribers('value subscriptions'), got, charged };
}

describe('Fanout', () => {
  it('pushes to every subscriber once committed and charges the writer the time it took', async () => {
    const { fanout, subs, got, charged } = setup();
    subs.add('c:1', 'v');
    subs.add('c:2', 'v');
    fanout.writer = 'c:9';
    fanout.after(Promise.resolve(), subs, 'v', push);
    fanout.writer = undefined;
    expect(got).toEqual([]);
    await Promise.resolve();
    await Promise.resolve();
    expect(got).toEqual(['c:1', 'c:2']);
    expect(charged.length).toBe(1);
    expect(charged[0]![0]).toBe('c:9');
    expect(charged[0]![1]).toBeGreaterThanOrEqual(0.4);
  });

  it('a failed commit pushes and charges nothing; no subscriber, no charge; no writer, no charge', async () => {
    const { fanout, subs, got, charged } = setup();
    fanout.writer = 'c:9';
    fanout.after(Promise.reject(new Error('disk full')), subs, 'v', push);
    fanout.after(Promise.resolve(), subs, 'v', push);
    subs.add('c:1', 'w');
    fanout.writer = undefined;
    fanout.after(Promise.resolve(), subs, 'w', push);
    for (let i = 0; i < 4; i++) await Promise.resolve();
    expect(got).toEqual(['c:1']);
    expect(charged).toEqual([]);
  });
});

describe('Fanout to many subscribers', () => {
  /** Counts the turns (immediates) that pass while `until` is not done. */
  async function turnsUntil(done: () => boolean): Promise<number> {
    let turns = 0;
    while (!done()) {
      await new Promise<void>((r) => setImmediate(r));
      turns++;
    }
    return turns;
  }

  it('is pushed a slice a turn, in commit order, charged to its writer; a reply asking settled() waits for the older pushes', async () => {
    const got: [string, number][] = [];
    const charged = new Map<string, number>();
    // 2,000 subscribers at 20 us each: ~40 ms, what a small value's pushes and socket writes took with 2,000 connections.
    const fanout = new Fanout((owner, p) => {
      got.push([owner, p.version]);
      const until = performance.now() + 0.02;
      while (performance.now() < until);
    });
    fanout.charge = (writer, ms) => charged.set(writer, (charged.get(writer) ?? 0) + ms);
    const subs = new Subscribers('value subscriptions');
    const few = new Subscribers('value subscriptions');
    for (let i = 0; i < 2000; i++) subs.add(`c:${i}`, 'v');
    few.add('c:small', 'w');
    expect(fanout.settled()).toBeUndefined();
    fanout.writer = 'c:hog';
    fanout.after(Promise.resolve(), subs, 'v', { ...push, version: 1 });
    fanout.after(Promise.resolve(), subs, 'v', { ...push, version: 2 });
    fanout.writer = 'c:other';
    fanout.after(Promise.resolve(), few, 'w', { ...push, name: 'w', version: 7 });
    fanout.writer = undefined;
    await Promise.resolve();
    await Promise.resolve();
    const settled = fanout.settled();
    expect(settled).toBeDefined();
    let settledAt = -1;
    void settled!.then(() => (settledAt = got.length));
    // Without slicing both fan-outs went in the commit's reaction: one turn of ~80 ms.
    const turns = await turnsUntil(() => got.length === 4001);
    expect(turns).toBeGreaterThanOrEqual(10);
    await Promise.resolve();
    expect(settledAt).toBe(4001);
    // Every subscriber once per version, versions in order, and the small name's change after both.
    expect(got.slice(0, 2000).every(([, v]) => v === 1)).toBe(true);
    expect(got.slice(2000, 4000).every(([, v]) => v === 2)).toBe(true);
    expect(new Set(got.slice(0, 2000).map(([o]) => o)).size).toBe(2000);
    expect(got[4000]).toEqual(['c:small', 7]);
    expect(charged.get('c:hog')).toBeGreaterThanOrEqual(80);
    expect(fanout.settled()).toBeUndefined();
  });

  it('pushes a subscriber gone before its slice nothing, and one that came since the change', async () => {
    const got: string[] = [];
    const fanout = new Fanout((owner) => {
      got.push(owner);
      const until = performance.now() + 0.02;
      while (performance.now() < until);
    });
    const subs = new Subscribers('value subscriptions');
    for (let i = 0; i < 1000; i++) subs.add(`c:${i}`, 'v');
    fanout.after(Promise.resolve(), subs, 'v', push);
    await Promise.resolve();
    await Promise.resolve();
    expect(got.length).toBeLessThan(1000);
    subs.delete('c:999', 'v');
    subs.add('c:late', 'v');
    await turnsUntil(() => fanout.settled() === undefined);
    expect(got).not.toContain('c:999');
    expect(got).toContain('c:late');
    expect(got.length).toBe(1000);
  });
});
