/**
 * A daemon that has just joined (or restarted) has seen none of the cluster's values, so it knows
 * no add's cost (costly-scripts.ts): each add is measured first (the value's stored length, one O(1)
 * read sent as the add arrives) and then goes in its owner's order. One app's first adds to 2,000
 * such values beside a neighbour's to its own 200, all in flight at once: every add applied once,
 * each reply the value it made. Outcomes only: the times are figures. As probes (one unknown-cost
 * add in flight on the daemon, its reply telling the size), the app's adds took 2.2-3.6 s here;
 * measured, 1.25-1.5 s. The neighbour's 200 took 270-330 ms either way: the daemon's and Redis's
 * work on the app's adds, not the probes' turns, set its pace.
 */
import { expect, it } from 'vitest';
import { connect } from '@corepool/client';
import { startCluster } from '../support/cluster.js';
import { figure } from '../support/figures.js';

const APP_VALUES = 2_000;
const NEIGHBOUR_VALUES = 200;

it("an app's and a neighbour's first adds to values a daemon has not seen: each applied once, in order", async () => {
  await using c = await startCluster(1, { workers: 1 });
  const setter = await connect(c.daemons[0]!.url, { token: c.token });
  await Promise.all(Array.from({ length: APP_VALUES }, (_, i) => setter.value<number>(`app${i}`).set(i)));
  await Promise.all(Array.from({ length: NEIGHBOUR_VALUES }, (_, i) => setter.value<number>(`near${i}`).set(i)));
  await setter.close();
  // A daemon that joins after they were written: it has seen none of them.
  const b = await c.add({ workers: 1 });
  await c.untilMembers(2);
  const app = await b.connect({ name: 'app' });
  const near = await b.connect({ name: 'neighbour' });
  const t0 = performance.now();
  const burst = Promise.all(Array.from({ length: APP_VALUES }, (_, i) => app.value<number>(`app${i}`).add(1)));
  // The app's adds reach the daemon first.
  await new Promise((r) => setTimeout(r, 20));
  const sent = performance.now();
  const mine = await Promise.all(Array.from({ length: NEIGHBOUR_VALUES }, (_, i) => near.value<number>(`near${i}`).add(1)));
  const neighbourMs = performance.now() - sent;
  const added = await burst;
  const burstMs = performance.now() - t0;
  figure('unseenValues', { neighbourMs: Math.round(neighbourMs), burstMs: Math.round(burstMs) });
  expect(mine).toEqual(Array.from({ length: NEIGHBOUR_VALUES }, (_, i) => i + 1));
  expect(added).toEqual(Array.from({ length: APP_VALUES }, (_, i) => i + 1));
  const check = await connect(c.daemons[0]!.url, { token: c.token });
  try {
    expect(await check.value<number>('app1999').get()).toBe(2_000);
    expect(await check.value<number>('near0').get()).toBe(1);
  } finally {
    await check.close();
  }
}, 60_000);
