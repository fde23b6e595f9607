/**
 * The compiled-task cache of a worker is bounded (issue 9, item 11): many
 * distinct large sources through one worker keep its memory bounded, and every
 * batch still gets its own task's results, whether the primary sends the
 * source again (evicted) or only its hash (still kept at both ends); and a
 * co-tenant flooding the cache with new sources does not make another app's
 * task, sent by hash, run as anything else or fail.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { useDaemon, type TestDaemon } from './support/daemon.js';
import { readRss } from './support/processes.js';
import { figure } from './support/figures.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x), { workers: 1 });

// Just under the daemon's longest source (1 Mi characters).
const PAD = 'x'.repeat(1024 * 1024 - 100);
/** A distinct task of ~1 MB of source that adds `k` to its item. */
function adder(k: number): (x: number) => number {
  return new Function('x', `/* ${k} ${PAD} */ return x + ${k};`) as (x: number) => number;
}

describe('the compiled-task cache', () => {
  it('200 distinct 1 MB sources through one worker: its RSS stays bounded, every batch gets its own results', async () => {
    const tasks = Array.from({ length: 200 }, (_, k) => adder(k));
    const [pid] = await d.workerPids();
    let peak = 0;
    for (let k = 0; k < tasks.length; k++) {
      expect(await client.map(tasks[k]!, [1000])).toEqual([1000 + k]);
      // The most recent ones again: sent by hash only.
      if (k >= 3 && k % 10 === 0) expect(await client.map(tasks[k - 3]!, [1, 2], { chunkSize: 1 })).toEqual([1 + k - 3, 2 + k - 3]);
      if (k % 20 === 0) peak = Math.max(peak, readRss(pid!));
    }
    // The first ones, long evicted at both ends: sent again, compiled again.
    for (let k = 0; k < 5; k++) expect(await client.map(tasks[k]!, [7])).toEqual([7 + k]);
    peak = Math.max(peak, readRss(pid!));
    expect(await d.workerPids()).toEqual([pid]);
    figure('sourceCache.workerPeakRssMb', Math.round(peak / 1048576));
    // Unbounded (and with new Function, which V8 caches for good) this peaked at 485 MB; bounded, at ~230 MB.
    expect(peak).toBeLessThan(350 * 1024 * 1024);
  }, 180_000);

  it('a co-tenant flooding distinct sources beside an app that submits one task over and over: the app always gets its own results', async () => {
    const flooder = await d.connect({ name: 'flooder' });
    try {
      const own = (x: number): number => x * 3;
      // Small sources, so the count bound (not the size bound) evicts: the app's task is evicted and sent again, over and over.
      const small = Array.from({ length: 600 }, (_, k) => new Function('x', `return x + ${k};`) as (x: number) => number);
      const flood = (async () => {
        for (let k = 0; k < small.length; k += 3) {
          const got = await Promise.all([0, 1, 2].map((j) => flooder.submit(small[k + j]!, 1)));
          expect(got).toEqual([1 + k, 2 + k, 3 + k]);
        }
      })();
      let runs = 0;
      let flooding = true;
      void flood.finally(() => (flooding = false));
      while (flooding || runs < 50) {
        expect(await client.submit(own, runs)).toBe(runs * 3);
        runs++;
      }
      await flood;
      expect(runs).toBeGreaterThanOrEqual(50);
      // Then past both ends' bounds between two of the app's submits: its source is evicted, sent again, then by hash.
      const more = Array.from({ length: 300 }, (_, k) => new Function('x', `return x - ${k};`) as (x: number) => number);
      for (let k = 0; k < more.length; k += 30) {
        expect(await Promise.all(more.slice(k, k + 30).map((f) => flooder.submit(f, 1000)))).toEqual(
          more.slice(k, k + 30).map((_, j) => 1000 - k - j),
        );
      }
      expect(await client.submit(own, 7)).toBe(21);
      expect(await client.submit(own, 8)).toBe(24);
      expect((await d.workerPids()).length).toBe(1);
    } finally {
      await flooder.close();
    }
  }, 120_000);
});
