/**
 * Kept replies that are large (a queue.get's item) on real LMDB: a client with many gets in
 * flight, answered one commit batch at a time, must not have every earlier item of its segment
 * written again with each later one (the bytes the process writes stay proportional to the items).
 * The same for a Value's replies, which carry the value (`value.init` of a value that exists, the
 * sum of an `add`): a hostile review found a frame of `value.init`s of one large value, never
 * acknowledged, rewriting its whole segment at every commit.
 */
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';
import { takenItem } from '../../src/state/replay-log.js';

import { cleanup, enc, open, req, tempDir } from './helpers.js';

/** Bytes this process has written through write(2) and friends (LMDB writes its pages so). */
function written(): number {
  const m = /^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  return Number(m![1]);
}

describe('large kept replies', () => {
  it('are written once, not once per later reply of their segment', async () => {
    const dir = tempDir();
    let state = await open(dir);
    try {
      const items = 64;
      const item = enc(new Uint8Array(64 * 1024).fill(7));
      // One instance's gets, all waiting (a consumer with many in flight that has not acked yet).
      const gets = Array.from({ length: items }, (_, i) =>
        state.handle('c:1', req('queue.get', 'jobs', { timeoutMs: 60_000 }), ['i-a', i + 1]),
      );
      const before = written();
      // Each put hands its item to the next get, in a batch of its own.
      for (let i = 0; i < items; i++) await state.handle('c:2', req('queue.put', 'jobs', { a: item }));
      await Promise.all(gets);
      const bytes = written() - before;
      const data = items * item.length;
      // The items go into the queue and into their kept replies: about twice their bytes, plus pages.
      // Rewritten with each later reply of the segment, they would cost ~items/2 times that.
      expect(bytes).toBeLessThan(8 * data);
      // Durable like the others: read back after a reopen, in request id order, and gone once dropped.
      await state.close();
      state = await open(dir);
      const kept = state.keptReplies().get('i-a')!;
      expect([...kept.keys()]).toEqual(Array.from({ length: items }, (_, i) => i + 1));
      // A get's reply is kept with its queue (replay-log.ts TakenItem).
      expect(takenItem(kept.get(items))!.taken).toBe('jobs');
      expect(Buffer.from(takenItem(kept.get(items))!.item).equals(item)).toBe(true);
      for (let rid = 1; rid <= items; rid++) state.dropReply(['i-a', rid]);
      await state.handle('c:1', req('queue.size', 'jobs'));
      await state.close();
      state = await open(dir);
      expect(state.keptReplies().size).toBe(0);
    } finally {
      await state.close();
      cleanup(dir);
    }
  });

  it("a Value's replies carrying a large value are written once too, and replayed as they were", async () => {
    const dir = tempDir();
    let state = await open(dir);
    try {
      const n = 64;
      const big = enc(new Uint8Array(64 * 1024).fill(3));
      await state.handle('c:1', req('value.set', 'big', { a: big }));
      const before = written();
      // Each init of the existing value, in a commit of its own, keeps the value as its reply.
      for (let i = 0; i < n; i++) await state.handle('c:1', req('value.init', 'big', { a: enc(0) }), ['i-v', i + 1]);
      const bytes = written() - before;
      // Written with each later reply of its segment, the replies cost ~n/2 times their bytes.
      expect(bytes).toBeLessThan(8 * n * big.length);
      await state.close();
      state = await open(dir);
      const kept = state.keptReplies().get('i-v')!;
      expect([...kept.keys()]).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      const last = kept.get(n) as { version: number; value: Uint8Array };
      expect(last.version).toBe(1);
      expect(Buffer.from(last.value).equals(big)).toBe(true);
    } finally {
      await state.close();
      cleanup(dir);
    }
  });
});
