/**
 * An app that dies with hundreds of thousands of blocked calls (30 connections, 10,000 queue gets
 * each, the most a connection may leave) beside a neighbour awaiting adds. A gone connection's
 * calls leave their lines a slice a turn (waiters.ts); past 100,000 of them departing they went
 * at once, each connection's in one turn, and the neighbour's add waited the whole clear out
 * (1.9-2.8 s here; 60-150 ms since). Now they always go a slice at a time and stay counted
 * in the connections' entries bound until they have left, which is what bounds them instead.
 * The neighbour's own blocked get still gets its item, and nothing is left counted.
 */
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { startApp } from './apps/spawn-app.js';
import { figure } from './support/figures.js';
import { addsBeside } from './support/neighbour.js';
import { until } from './support/wait.js';

const CONNECTIONS = 30;
const GETS = 10_000;

it("a connection's calls leave a slice at a time however many are departing: a neighbour's add never waits the clear out", async () => {
  // The entries bound (a quarter of --max-state-mb, 2,000 bytes a blocked get) must hold all 300,000 whatever the machine's heap.
  await using d = await startDaemon({ workers: 1, args: ['--max-state-mb', '2560'] });
  const neighbour = await d.connect({ name: 'neighbour' });
  const counter = neighbour.value<number>('count', { initial: 0 });
  await using app = startApp(d, 'blocked-getters.mjs', { connections: CONNECTIONS, gets: GETS, name: 'never' });
  await app.line((l) => l.sent !== undefined);
  await until(async () => (await d.status()).blockedGets === CONNECTIONS * GETS, 30_000, 'every get blocked');
  const held = (await d.status()).stateEntryBytes!;

  const adds = addsBeside(counter);
  await new Promise((r) => setTimeout(r, 200));
  await app.kill();
  await until(async () => (await d.status()).stateEntryBytes === 0, 30_000, 'the killed app calls gone');
  const { adds: n, slowestAddMs } = await adds.stop();
  figure('departing-waiters', { held, adds: n, slowestAddMs: Math.round(slowestAddMs) });
  // Sliced, the slowest add is a turn or a few (~100 ms on a loaded 2-core VM); all at once it waited 1.9-2.8 s.
  expect(slowestAddMs).toBeLessThan(800);

  const q = neighbour.queue<number>('never');
  const got = q.get({ timeoutMs: 10_000 });
  await q.put(7);
  expect(await got).toBe(7);
  await neighbour.close();
}, 60_000);
