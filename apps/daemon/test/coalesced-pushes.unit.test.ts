/**
 * The pushes waiting for a slow client (coalesced-pushes.ts): latest wins per
 * kind, name and key, and a dict's per-key pushes past the bound give way to
 * one resync per dict, after which its changes are dropped until it is sent.
 */
import { describe, expect, it } from 'vitest';
import type { Push } from '@corepool/protocol';
import { CoalescedPushes } from '../src/state/coalesced-pushes.js';

const set = (name: string, key: string, version: number, bytes = 8): Push => ({
  type: 'push',
  kind: 'dict',
  name,
  version,
  key,
  value: new Uint8Array(bytes),
});
const value = (name: string, version: number): Push => ({ type: 'push', kind: 'value', name, version, value: new Uint8Array(8) });

function all(c: CoalescedPushes): Push[] {
  const out: Push[] = [];
  for (let p = c.shift(); p !== undefined; p = c.shift()) out.push(p);
  return out;
}

describe('coalesced pushes', () => {
  it('keep the latest per key, in the order of their latest versions', () => {
    const c = new CoalescedPushes(1 << 20);
    c.add(set('d', 'a', 1));
    c.add(set('d', 'b', 2));
    c.add(set('d', 'a', 3));
    c.add(value('v', 1));
    expect(all(c).map((p) => [p.name, p.key, p.version])).toEqual([
      ['d', 'b', 2],
      ['d', 'a', 3],
      ['v', undefined, 1],
    ]);
  });

  it('past the bound, every dict waits as one resync, after the values; its later changes are dropped until it goes', () => {
    const c = new CoalescedPushes(4096);
    c.add(value('v', 1));
    c.add(set('e', 'x', 1));
    for (let i = 0; i < 100; i++) c.add(set('d', `k${i}`, i + 1));
    c.add(set('d', 'late', 1000));
    c.add(value('v', 2));
    expect(c.size).toBe(3);
    expect(all(c).map((p) => [p.kind, p.name, p.resync === true, p.version])).toEqual([
      ['dict', 'e', true, 0],
      ['dict', 'd', true, 0],
      ['value', 'v', false, 2],
    ]);
    // Sent: the dict's changes wait one by one again.
    c.add(set('d', 'again', 1001));
    expect(all(c).map((p) => p.key)).toEqual(['again']);
  });

  it('values and keyless deletes are not counted: any number of them waits as they are', () => {
    const c = new CoalescedPushes(256);
    for (let i = 0; i < 100; i++) c.add(value(`v${i}`, 1));
    c.add({ type: 'push', kind: 'dict', name: 'd', version: 5, deleted: true });
    expect(c.size).toBe(101);
    expect(all(c).some((p) => p.resync === true)).toBe(false);
  });

  it('names and keys holding NULs are told apart: dict "a" key "b\\0c" is not dict "a\\0b" key "c"', () => {
    const c = new CoalescedPushes(1024 * 1024);
    c.add(set('a', 'b\0c', 1));
    c.add(set('a\0b', 'c', 2));
    expect(all(c).map((p) => [p.name, p.key])).toEqual([
      ['a', 'b\0c'],
      ['a\0b', 'c'],
    ]);
  });
});
