/**
 * HeldPushes on its own: a dict's pushes to an owner wait while that owner
 * lists the dict, and follow, in order, a turn after the last listing ends;
 * other owners, other dicts and values are not held; an owner that went gets
 * nothing of what was held. What waits is the latest per key, bounded: a
 * writer of ever-new keys beside a long listing leaves one resync.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { SEND_HIGH_WATER, type Push } from '@corepool/protocol/internal';
import { HeldPushes } from '../src/state/held-pushes.js';

const dict = (name: string, version: number, key = `k${version}`, bytes = 1): Push => ({
  type: 'push',
  kind: 'dict',
  name,
  version,
  key,
  value: new Uint8Array(bytes).fill(version),
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

  it('keeps the latest push per key, in version order', async () => {
    const sent: string[] = [];
    const h = new HeldPushes((owner, p) => sent.push(`${p.key} ${p.version}`));
    const release = h.hold('c:1', 'd');
    h.deliver('c:1', dict('d', 1, 'a'));
    h.deliver('c:1', dict('d', 2, 'b'));
    h.deliver('c:1', dict('d', 3, 'a'));
    release();
    await nextTurn();
    expect(sent).toEqual(['b 2', 'a 3']);
  });

  it('holds no more than the send high-water mark: past it, one resync of the dict', async () => {
    const sent: Push[] = [];
    const h = new HeldPushes((owner, p) => sent.push(p));
    const release = h.hold('c:1', 'd');
    // 64 MiB of pushes of new keys while the listing is encoded.
    for (let v = 1; v <= 1024; v++) h.deliver('c:1', dict('d', v, `key-${v}`, 64 * 1024));
    release();
    await nextTurn();
    const bytes = sent.reduce((n, p) => n + (p.value?.length ?? 0), 0);
    expect(bytes).toBeLessThanOrEqual(SEND_HIGH_WATER);
    expect(sent.at(-1)).toMatchObject({ kind: 'dict', name: 'd', resync: true });
  });
});
