/**
 * HeldPushes on its own: a dict's pushes to an owner wait while that owner
 * lists the dict, and follow, in order, a turn after the last listing ends;
 * other owners, other dicts and values are not held; an owner that went gets
 * nothing of what was held.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Push } from '@corepool/protocol';
import { HeldPushes } from '../src/state/held-pushes.js';

const dict = (name: string, version: number): Push => ({
  type: 'push',
  kind: 'dict',
  name,
  version,
  key: 'k',
  value: new Uint8Array([version]),
});
const value = (name: string, version: number): Push => ({ type: 'push', kind: 'value', name, version, value: new Uint8Array([version]) });

describe('HeldPushes', () => {
  it("holds a dict's pushes to its lister until a turn after its last listing ends, in order", async () => {
    const sent: string[] = [];
    const h = new HeldPushes((owner, p) => sent.push(`${owner} ${p.kind} ${p.name} ${p.version}`));
    const first = h.hold('c:1', 'd');
    const second = h.hold('c:1', 'd');
    h.deliver('c:1', dict('d', 1));
    h.deliver('c:1', dict('other', 1));
    h.deliver('c:1', value('d', 1));
    h.deliver('c:2', dict('d', 1));
    h.deliver('c:1', dict('d', 2));
    expect(sent).toEqual(['c:1 dict other 1', 'c:1 value d 1', 'c:2 dict d 1']);
    first();
    await nextTurn();
    expect(sent).toHaveLength(3);
    second();
    expect(sent).toHaveLength(3);
    await nextTurn();
    expect(sent.slice(3)).toEqual(['c:1 dict d 1', 'c:1 dict d 2']);
    h.deliver('c:1', dict('d', 3));
    expect(sent.at(-1)).toBe('c:1 dict d 3');
  });

  it('sends nothing held to an owner that went', async () => {
    const sent: string[] = [];
    const h = new HeldPushes((owner, p) => sent.push(`${owner} ${p.version}`));
    const release = h.hold('c:1', 'd');
    h.deliver('c:1', dict('d', 1));
    h.dropOwner('c:1');
    release();
    await nextTurn();
    expect(sent).toEqual([]);
  });
});
