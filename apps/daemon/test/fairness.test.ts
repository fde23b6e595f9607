/**
 * Fairness: batches from different clients share the workers round-robin. The
 * check is an ordering, not a timing: a second client's four-item batch
 * finishes while the first client's long batch is still far from done.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startDaemon();
});
afterAll(async () => {
  await d?.[Symbol.asyncDispose]();
});

it('a small batch from a second client is not stuck behind another client’s long batch', async () => {
  const big: Client = await d.connect({ name: 'big' });
  const small: Client = await d.connect({ name: 'small' });
  const busy = (ms: number): number => {
    const end = performance.now() + ms;
    let n = 0;
    while (performance.now() < end) n++;
    return n;
  };
  let bigDone = 0;
  const total = 2000; // 2,000 x 5 ms on 2 workers: about 5 s of work
  const bigRun = big.map(
    busy,
    Array.from({ length: total }, () => 5),
    { onProgress: (done) => (bigDone = done) },
  );
  await until(() => bigDone > 0, 30_000, 'the big batch under way'); // its results flow: the workers are its
  const t0 = performance.now();
  const out = await small.map((x: number) => x * 10, [1, 2, 3, 4]);
  const smallMs = performance.now() - t0;
  const doneWhenSmallFinished = bigDone;
  expect(out).toEqual([10, 20, 30, 40]);
  expect(doneWhenSmallFinished).toBeLessThan(total / 2);
  const bigOut = await bigRun;
  expect(bigOut.length).toBe(total);
  console.log(`small batch finished in ${smallMs.toFixed(1)} ms while the big one had ${doneWhenSmallFinished}/${total} done`);
});
