/**
 * A client awaiting one call at a time beside a client that keeps thousands of calls in flight:
 * each of its calls waits for the rest of the primary's turn, so its rate is one call a turn,
 * and a turn was the busy client's whole budget (turn-share.ts). A raw client keeping four frames
 * of 1,000 adds in flight left a neighbour's awaited adds at about 8% of its rate alone, though it
 * asked for less than half the primary. While a light connection is about, the others' turns are
 * shorter (SHARED_TURN_BUDGET_MS): the neighbour keeps about a quarter, the busy client most of
 * its rate.
 */
import { expect, it } from 'vitest';
import { startApp } from './apps/spawn-app.js';
import { startDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';
import { addsBeside } from './support/neighbour.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

it("an awaited add's rate beside a client with 4,000 adds in flight: a share of its rate alone, the busy client kept going", async () => {
  await using d = await startDaemon({ workers: 1 });
  const neighbour = await d.connect({ name: 'neighbour' });
  const counter = neighbour.value<number>('count', { initial: 0 });
  await counter.get();
  // Warm, then alone.
  const warm = addsBeside(counter);
  await sleep(500);
  await warm.stop();
  const aloneRun = addsBeside(counter);
  await sleep(2_000);
  const alone = (await aloneRun.stop()).adds / 2;

  await using flooder = startApp(d, 'add-flooder.mjs', { size: 1000, frames: 4 });
  await flooder.line((l) => l.running === true);
  const beside = addsBeside(counter);
  await sleep(3_000);
  const { adds, slowestAddMs } = await beside.stop();
  flooder.send('stop');
  const { answered } = await flooder.line((l) => typeof l.answered === 'number');
  const ratio = adds / 3 / alone;
  figure('lightNeighbour', {
    alonePerS: Math.round(alone),
    besidePerS: Math.round(adds / 3),
    ratio: ratio.toFixed(3),
    slowestAddMs: Math.round(slowestAddMs),
    flooderAnswered: answered,
  });
  // About 0.25 with the shared budget, 0.08 without.
  expect(ratio).toBeGreaterThan(0.15);
  expect(answered as number).toBeGreaterThan(100_000);
  await neighbour.close();
}, 60_000);
