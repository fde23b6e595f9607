/**
 * A client that keeps coming back (one submit at a time, idle in between) beside
 * another that keeps many batches open: each time it returns it is levelled with
 * what the other has taken, not with what the other was charged ahead, so it is
 * owed a worker and waits for about one item. Levelled with the charges, it sat
 * above the other by up to a chunk after a few returns and waited behind whole
 * chunks: 50 unconsumed imaps held a neighbour's submit up to 11.7 s. The bound
 * below is two solo chunks (1 s), fifty times what a submit waits here (~20 ms):
 * it tells waiting behind whole chunks from waiting for an item on any machine.
 */
import { expect, it } from 'vitest';
import { useDaemon, type TestDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';

let d: TestDaemon;
useDaemon((x) => ({ d } = x));

it('a client coming back again and again beside 20 open imaps is served after about one item, not after their chunks', async () => {
  const greedy = await d.connect({ name: 'greedy-imaps' });
  const neighbour = await d.connect({ name: 'returning' });
  // 1 ms items that sleep (the workers' cores stay free for the clients), each stamped with when it ran:
  // on the system's monotonic clock, which every process reads alike. performance.timeOrigin is each
  // process's own estimate of its start: the runner's, minutes old, was once 7.4 s off a new worker's.
  const item = (x: number): number => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    return x === -1 ? x : Number(process.hrtime.bigint()) / 1e6;
  };
  const stamps: number[] = [];
  function* endless(): Generator<number> {
    for (let i = 0; ; i++) yield i;
  }
  const iterators = Array.from({ length: 20 }, () => greedy.imap(item, endless(), { ordered: false })[Symbol.asyncIterator]());
  // Read once each, then left: their chunks stay queued and running. Started together: one after the other
  // (each first result awaited before the next imap began, 13.5 s), the old levelling passed here too (max 22 ms);
  // started together, it fails (max 2.8 and 4.3 s waits).
  for (const r of await Promise.all(iterators.map((it) => it.next()))) stamps.push(r.value as number);
  const waitedBehind: number[] = [];
  for (let i = 0; i < 40; i++) {
    const sent = Number(process.hrtime.bigint()) / 1e6;
    waitedBehind.push((await neighbour.submit(item, i)) - sent);
  }
  figure('returningClient.waitMs', {
    p50: [...waitedBehind].sort((a, b) => a - b)[20],
    max: Math.max(...waitedBehind),
  });
  // The greedy batches ran throughout (their results are read ahead by the SDK, one window each).
  expect(stamps).toHaveLength(20);
  // Every submit ran within two of the greedy's chunk targets of being sent (a solo chunk is 500 ms of
  // 1 ms items): waiting behind whole chunks, the worst took seconds.
  expect(Math.max(...waitedBehind)).toBeLessThan(2 * 500);
  for (const it of iterators) await it.return?.();
}, 60_000);
