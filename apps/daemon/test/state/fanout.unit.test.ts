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
