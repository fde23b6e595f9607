/**
 * A client that keeps one small frame in flight on each of several connections ends every turn of
 * each under budget, its replies written in the turns between: were that light (turn-share.ts's
 * TurnBudgets), each of its connections kept the whole budget and held every other connection to the
 * shared one. Beside an honest client keeping 4 frames of 1,000 adds in flight, 8 connections of 60
 * took 2.1-2.6M adds in 8 s to its 1.05-1.14M (a third of the two's); before the shared budget, and
 * with lightness judged by the messages a turn handled, 1.7-1.8M to its 2.1-2.3M.
 */
import { expect, it } from 'vitest';
import { startApp } from './apps/spawn-app.js';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The honest client's share of the adds answered over 3 s beside the hog's 8 connections. */
async function honestShare(d: TestDaemon): Promise<number> {
  await using honest = startApp(d, 'add-flooder.mjs', { size: 1000, frames: 4, name: 'honest' });
  await using hog = startApp(d, 'small-frames-flooder.mjs', { size: 60, conns: 8 });
  await Promise.all([honest.line((l) => l.running === true), hog.line((l) => l.running === true)]);
  await sleep(3_000);
  honest.send('stop');
  hog.send('stop');
  const [h, g] = await Promise.all([honest.line((l) => typeof l.answered === 'number'), hog.line((l) => typeof l.answered === 'number')]);
  const share = (h.answered as number) / ((h.answered as number) + (g.answered as number));
  figure('lightHog', { honestAnswered: h.answered, hogAnswered: g.answered, honestShare: share.toFixed(3) });
  return share;
}

it('small frames on many connections are no light connection: beside them a busy client keeps its share', async () => {
  await using d = await startDaemon({ workers: 1 });
  // About 0.55 (as before the shared budget) on the VM it was written on, 0.31-0.33 with the small frames'
  // connections light. On a slower 2-vCPU VM (Dec 7): 0.38-0.45 in eleven runs, 0.28-0.30 in three with them
  // light; in its CI runs 0.30-0.45, the machine's state varying from run to run. The fault is in every
  // measurement, the machine's noise in some: a second measurement is taken when the first is under the bound.
  let share = await honestShare(d);
  if (share <= 0.34) share = Math.max(share, await honestShare(d));
  expect(share).toBeGreaterThan(0.34);
}, 60_000);
