/**
 * The kept replies of writes (replay-log.ts), on real LMDB: committed with their writes, gone
 * once acknowledged, the same after a reopen, moved over from the earlier one-record-per-request
 * layout, and never made durable for a write whose commit failed. Then through a real daemon: a
 * burst of writes in flight leaves nothing kept once its replies arrived, though no request
 * followed it (the client's own `ack`).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';

import { open as openLmdb } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '@corepool/protocol/internal';

import { SEGMENT_RIDS } from '../../src/state/replay-log.js';
import { TOO_OLD_MARK } from '../../src/state/state-store.js';
import { Store } from '../../src/state/store.js';
import { startDaemon } from '../support/daemon.js';
import { cleanup, enc, open, req, tempDir } from './helpers.js';

/** Kept replies on disk, by instance and request id, read with LMDB itself (another reader of the file). */
function keptOnDisk(dataDir: string): Map<string, number[]> {
  const root = openLmdb({ path: path.join(dataDir, 'state'), readOnly: true, maxDbs: 8 });
  const db = root.openDB({ name: 'replay-log', encoding: 'binary' });
  const out = new Map<string, number[]>();
  try {
    for (const { key, value } of db.getRange()) {
      const [instance] = key as [string, number];
      const flat = decodeMessage(value as Uint8Array) as unknown[];
      const rids = out.get(instance) ?? [];
      for (let i = 0; i < flat.length; i += 2) rids.push(flat[i] as number);
      out.set(
        instance,
        rids.sort((a, b) => a - b),
      );
    }
  } finally {
    void root.close();
  }
  return out;
}

describe('kept replies', () => {
  it('are committed with their writes, dropped when acknowledged, and read back after a reopen', async () => {
    const dir = tempDir();
    let state = await open(dir);
    try {
      // Three segments' worth of request ids, from two instances.
      const n = SEGMENT_RIDS * 2 + 10;
      for (let rid = 1; rid <= n; rid++) await state.handle('c:1', req('value.add', 'hits', { a: enc(1) }), ['i-a', rid]);
      await state.handle('c:2', req('value.set', 'other', { a: enc('x') }), ['i-b', 7]);
      for (let rid = 1; rid <= SEGMENT_RIDS + 5; rid++) state.dropReply(['i-a', rid]);
      await state.handle('c:1', req('value.get', 'hits'));
      await state.close();
      const onDisk = keptOnDisk(dir);
      expect(onDisk.get('i-a')).toEqual(Array.from({ length: n - SEGMENT_RIDS - 5 }, (_, i) => SEGMENT_RIDS + 6 + i));
      expect(onDisk.get('i-b')).toEqual([7]);
      state = await open(dir);
      const kept = state.keptReplies();
      expect(kept.get('i-a')?.get(n)).toMatchObject({ version: n });
      expect(kept.get('i-a')?.has(SEGMENT_RIDS)).toBe(false);
      expect(kept.get('i-b')?.get(7)).toEqual({ version: 1 });
      // Everything acknowledged: no record is left behind.
      for (const rid of kept.get('i-a')!.keys()) state.dropReply(['i-a', rid]);
      state.dropReply(['i-b', 7]);
      await state.handle('c:1', req('value.get', 'hits'));
      await state.close();
      expect(keptOnDisk(dir).size).toBe(0);
    } finally {
      await state.close();
      cleanup(dir);
    }
  });

  it('keep every reply of a segment emptied and filled again mid-range, out of order too', async () => {
    const dir = tempDir();
    let state = await open(dir);
    try {
      const mid = SEGMENT_RIDS + SEGMENT_RIDS / 2;
      // Each write acknowledged before the next (a client awaiting each one): the segment empties every time.
      for (let rid = mid; rid < mid + 5; rid++) {
        await state.handle('c:1', req('value.add', 'n', { a: enc(1) }), ['i-o', rid]);
        state.dropReply(['i-o', rid]);
      }
      // Then ids that come below the lowest held, and one at each end of the segment.
      for (const rid of [mid + 9, mid + 7, mid + 8, SEGMENT_RIDS, 2 * SEGMENT_RIDS - 1]) {
        await state.handle('c:1', req('value.add', 'n', { a: enc(1) }), ['i-o', rid]);
      }
      state.dropReply(['i-o', mid + 7]);
      state.dropReply(['i-o', mid + 4]); // acknowledged before: nothing to drop
      await state.handle('c:1', req('value.get', 'n'));
      const want = [SEGMENT_RIDS, mid + 8, mid + 9, 2 * SEGMENT_RIDS - 1];
      expect([...state.keptReplies().get('i-o')!.keys()]).toEqual(want);
      expect(
        state
          .keptReplies()
          .get('i-o')!
          .get(mid + 8),
      ).toMatchObject({ version: 8 });
      await state.close();
      expect(keptOnDisk(dir).get('i-o')).toEqual(want);
      state = await open(dir);
      expect([...state.keptReplies().get('i-o')!.keys()]).toEqual(want);
    } finally {
      await state.close();
      cleanup(dir);
    }
  });

  it('moves replies kept one record per request id (the earlier layout) into the log', async () => {
    const dir = tempDir();
    try {
      const store = Store.open(dir);
      store.put(store.replays, ['i-old', 3], encodeMessage({ v: { version: 3 } }));
      store.put(store.replays, ['i-old', 4], encodeMessage({ v: { size: 2 } }));
      // A queue.get's large item stays a record of its own (replay-log.ts), still read back in order.
      const item = new Uint8Array(1024).fill(9);
      store.put(store.replays, ['i-old', 1], encodeMessage({ v: item }));
      await store.committed();
      await store.close();
      let state = await open(dir);
      const migrated = state.keptReplies().get('i-old')!;
      expect([...migrated.keys()]).toEqual([1, 3, 4]);
      expect(Buffer.from(migrated.get(1) as Uint8Array).equals(item)).toBe(true);
      migrated.delete(1);
      expect(migrated).toEqual(
        new Map<number, unknown>([
          [3, { version: 3 }],
          [4, { size: 2 }],
        ]),
      );
      await state.close();
      // Moved, not copied: the old table is empty and the log holds them.
      expect(keptOnDisk(dir).get('i-old')).toEqual([3, 4]);
      state = await open(dir);
      expect(state.keptReplies().get('i-old')?.size).toBe(3);
      await state.close();
    } finally {
      cleanup(dir);
    }
  });

  it("keep an instance's too-old mark in a record of its own, read back with its replies; one an earlier version kept in a segment moves there", async () => {
    const dir = tempDir();
    try {
      const store = Store.open(dir);
      // The earlier layout: the mark in segment -1 of the replay log, beside a reply in segment 0.
      void store.replayLog.put(['i-seg', -1], encodeMessage([TOO_OLD_MARK, [7, 5]]));
      void store.replayLog.put(['i-seg', 0], encodeMessage([9, { version: 9 }]));
      await store.committed();
      await store.close();
      let state = await open(dir);
      state.markTooOld('i-new', 12);
      await state.handle('c:1', req('value.add', 'hits', { a: enc(1) }), ['i-new', 13]);
      expect(state.keptReplies().get('i-seg')).toEqual(
        new Map<number, unknown>([
          [TOO_OLD_MARK, [7, 5]],
          [9, { version: 9 }],
        ]),
      );
      await state.close();
      // On disk: no segment holds a mark any more; each mark is a record of its own in `replays`.
      expect(keptOnDisk(dir)).toEqual(
        new Map([
          ['i-seg', [9]],
          ['i-new', [13]],
        ]),
      );
      const root = openLmdb({ path: path.join(dir, 'state'), readOnly: true, maxDbs: 8 });
      try {
        const replays = root.openDB({ name: 'replays', encoding: 'binary' });
        const own = [...replays.getRange()].map(({ key, value }) => [key, (decodeMessage(value as Uint8Array) as { v: unknown }).v]);
        expect(own).toEqual(
          expect.arrayContaining([
            [
              ['i-seg', TOO_OLD_MARK],
              [7, 5],
            ],
            [['i-new', TOO_OLD_MARK], 12],
          ]),
        );
        expect(own).toHaveLength(2);
      } finally {
        void root.close();
      }
      state = await open(dir);
      expect(state.keptReplies().get('i-new')).toEqual(
        new Map<number, unknown>([
          [TOO_OLD_MARK, 12],
          [13, expect.objectContaining({ version: 1 })],
        ]),
      );
      // Dropped with its instance, from disk too.
      state.dropReply(['i-new', TOO_OLD_MARK]);
      state.dropReply(['i-new', 13]);
      await state.close();
      state = await open(dir);
      expect(state.keptReplies().has('i-new')).toBe(false);
      await state.close();
    } finally {
      cleanup(dir);
    }
  });

  it('from a damaged segment record keep what belongs there, and the record is rewritten without the rest', async () => {
    const dir = tempDir();
    try {
      const store = Store.open(dir);
      // Segment 2 holds request ids 512..767: the others are not its own, a key that is no id is nothing,
      // and a reply that decodes as nothing is still a reply (its write must not be applied again).
      const ids = [520, { version: 1 }, 3, { version: 2 }, 2 ** 40, { version: 3 }, -1, true, 600.5, true, 'x', true, 767, null];
      store.put(store.replayLog, ['i-dmg', 2], encodeMessage(ids));
      await store.committed();
      await store.close();
      let state = await open(dir);
      expect(state.keptReplies().get('i-dmg')).toEqual(
        new Map<number, unknown>([
          [520, { version: 1 }],
          [767, null],
        ]),
      );
      await state.close();
      expect(keptOnDisk(dir).get('i-dmg')).toEqual([520, 767]);
      state = await open(dir);
      state.dropReply(['i-dmg', 767]);
      await state.handle('c:1', req('value.get', 'none')).catch(() => {});
      await state.close();
      expect(keptOnDisk(dir).get('i-dmg')).toEqual([520]);
    } finally {
      cleanup(dir);
    }
  });
});

describe('a burst of writes in flight', () => {
  it('leaves no kept reply once its replies arrived, though no request followed it', async () => {
    const d = await startDaemon({ keepDataDir: true });
    try {
      const client = await d.connect();
      const hits = client.value<number>('burst', { initial: 0 });
      await hits.get();
      const n = 5000;
      const out = await Promise.all(Array.from({ length: n }, () => hits.add(1)));
      expect(new Set(out).size).toBe(n);
      // The client's ack leaves at the end of a tick; the daemon commits the drops in its next batch.
      await new Promise((r) => setTimeout(r, 300));
      await client.close();
      expect(await d.stop()).toBe(0);
      const kept = keptOnDisk(d.dataDir);
      const left = [...kept.values()].reduce((s, rids) => s + rids.length, 0);
      // Without the ack every one of the 5,000 replies would still be kept; at most the last
      // ACK_EVERY (1,024) may be, that arrived after the last ack.
      expect(left).toBeLessThan(1024);
    } finally {
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  });
});
