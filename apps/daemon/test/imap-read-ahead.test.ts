/**
 * imap over an endless source reads ahead of its consumer by at most one
 * in-flight window (about 2 x workers + 2 chunks, in flight and waiting for
 * the consumer together), however slow the consumer; breaking out stops the
 * reading at once.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { useDaemon, type TestDaemon } from './support/daemon.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

/** An endless source that records how far it was read ahead of `consumed()`. */
function endless(consumed: () => number): { items: Generator<number>; pulled: () => number; maxAhead: () => number } {
  let pulled = 0;
  let maxAhead = 0;
  function* items(): Generator<number> {
    for (let i = 0; ; i++) {
      pulled++;
      maxAhead = Math.max(maxAhead, pulled - consumed());
      yield i;
    }
  }
  return { items: items(), pulled: () => pulled, maxAhead: () => maxAhead };
}

describe('imap read-ahead', () => {
  it('a slow consumer holds the reading of an endless source to one window', async () => {
    const chunkSize = 10;
    let consumed = 0;
    const src = endless(() => consumed);
    for await (const v of client.imap((x: number) => x, src.items, { chunkSize })) {
      expect(v).toBe(consumed);
      await new Promise((r) => setTimeout(r, 2));
      if (++consumed === 300) break;
    }
    const window = (2 * client.workers + 2) * chunkSize;
    // One window in flight or waiting, plus the chunk being read when the consumer took the last result.
    expect(src.maxAhead()).toBeLessThanOrEqual(window + chunkSize);
    const after = src.pulled();
    await new Promise((r) => setTimeout(r, 200));
    expect(src.pulled()).toBe(after);
    expect(d.pid).toBeGreaterThan(0);
  });

  it('breaking out after a few results has read little more than a window', async () => {
    let consumed = 0;
    const src = endless(() => consumed);
    for await (const _ of client.imap((x: number) => x, src.items, { chunkSize: 5, ordered: false })) {
      if (++consumed === 10) break;
    }
    expect(src.pulled()).toBeLessThanOrEqual((2 * client.workers + 2) * 5 + 5 + 10);
  });
});
