/**
 * pending-writes.ts alone: the last write of each record since the last checkpoint, one per
 * LMDB key. Keys that differ must never share an entry (a write would be lost at the
 * checkpoint), keys that are the same must (the record is counted once).
 */
import { describe, expect, it } from 'vitest';
import type { Key } from 'lmdb';
import { PendingWrites, keyId } from '../src/state/pending-writes.js';
import type { Table } from '../src/state/store.js';

describe('PendingWrites', () => {
  it('tells apart keys that print alike: strings, replay keys, other arrays', () => {
    const keys: Key[] = [
      'a',
      'r1:a',
      's1',
      ['a', 1],
      ['1:a', 0],
      ['a:1', 1],
      ['', 1],
      [':', 1],
      ['a', 1.5],
      ['a', -1],
      ['a', 'b'],
      [1, 'a'],
      ['a', 1, 2],
      [['a'], 1] as unknown as Key,
      'j["a",1]',
    ];
    const ids = keys.map(keyId);
    expect(new Set(ids).size).toBe(keys.length);
    expect(keyId(['a', 1])).toBe(keyId(['a', 1]));
  });

  it('keeps the last bytes of each record once, and its byte count', () => {
    const table = {} as Table;
    const p = new PendingWrites();
    p.set(table, ['owner', 7], new Uint8Array(3));
    p.set(table, ['owner', 7], new Uint8Array(5));
    p.set(table, 'owner:7', new Uint8Array(1));
    p.set(table, ['owner', 8], undefined);
    expect(p.size).toBe(3);
    expect(p.bytes).toBe(6);
  });
});
