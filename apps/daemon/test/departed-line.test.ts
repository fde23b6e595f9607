/**
 * Two neighbours using the very queue on which a killed app left 300,000 blocked gets (30 raw
 * connections, 10,000 each, the most a connection may leave): one waits in a get behind them, the
 * other puts 50 items while they leave their line a slice a turn (waiters.ts). No put pays for the
 * gone gets ahead of the waiting one: each used to step over all of them to reach it, charged to
 * the putter's connection, which then went unread while it paid that back a turn's budget at a
 * time. What the primary charged for the first put is what is judged (the slowest put follows
 * from it, but also from how long the machine's turns are). The items still go in order, the
 * first to the get that waited behind the gone ones.
 */
import { expect, it } from 'vitest';

import { encodeMessage } from '@corepool/protocol';

import { startDaemon, type TestDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';
import { until } from './support/wait.js';

const CONNECTIONS = 30;
const GETS = 10_000;
/** Gets per frame: the daemon takes up to 4,096 messages in one. */
const FRAME = 2_000;
const PUTS = 50;

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** The primary's time charged to the client named `name` so far (status), in ms. */
async function charged(d: TestDaemon, name: string): Promise<number> {
  return (await d.status()).clients.find((c) => c.name === name)!.primaryMs!;
}

/** Leaves GETS blocked gets on `name` from each of CONNECTIONS raw connections, and resolves once all wait. */
async function blockGets(d: TestDaemon, name: string): Promise<{ kill(): void }> {
  const socks = await Promise.all(Array.from({ length: CONNECTIONS }, () => d.raw({ hello: true })));
  for (const s of socks) {
    for (let f = 0; f < GETS / FRAME; f++) {
      const msgs = Array.from({ length: FRAME }, (_, i) => ({ type: 'state', rid: f * FRAME + i + 1, op: 'queue.get', name }));
      s.send(encodeMessage(msgs));
    }
  }
  await until(async () => (await d.status()).blockedGets === CONNECTIONS * GETS, 30_000, 'every get blocked');
  return { kill: () => socks.forEach((s) => s.ws.terminate()) };
}

it("a put on a queue where a killed app's 300,000 gets wait to leave pays nothing for them, and items keep their order", async () => {
  // The entries bound (a quarter of --max-state-mb, 2,000 bytes a blocked get) must hold all 300,000 whatever the machine's heap.
  await using d = await startDaemon({ workers: 1, args: ['--max-state-mb', '2560'] });
  const waiter = (await d.connect({ name: 'waiter' })).queue<number>('line');
  const putter = (await d.connect({ name: 'putter' })).queue<number>('line');

  /** PUTS awaited puts: their time, the slowest, and what the putter was charged for the first and for all, in ms. */
  const burst = async (first: number): Promise<{ ms: number; slowestMs: number; firstMs: number; chargedMs: number }> => {
    const from = await charged(d, 'putter');
    const t0 = performance.now();
    let slowestMs = 0;
    let firstMs = 0;
    for (let i = 0; i < PUTS; i++) {
      const t = performance.now();
      await putter.put(first + i);
      slowestMs = Math.max(slowestMs, performance.now() - t);
      if (i === 0) firstMs = (await charged(d, 'putter')) - from;
    }
    const ms = performance.now() - t0;
    return { ms, slowestMs, firstMs, chargedMs: (await charged(d, 'putter')) - from };
  };
  const alone = await burst(0);
  for (let i = 0; i < PUTS; i++) expect(await putter.get()).toBe(i);

  const app = await blockGets(d, 'line');
  const got = waiter.get({ timeoutMs: 30_000 });
  await until(async () => (await d.status()).blockedGets === CONNECTIONS * GETS + 1, 10_000, 'the waiter behind them');
  app.kill();
  // Set apart at once (no longer counted); out of the line a slice at a time.
  await until(async () => (await d.status()).blockedGets === 1, 30_000, 'the gets set apart');
  let servedAt = 0;
  void got.then(() => (servedAt = performance.now()));
  const putAt = performance.now();
  const beside = await burst(100);
  expect(await got).toBe(100);
  // The first put's item is kept for the waiter until the gone gets before it have left (a clear that goes first).
  const waiterMs = servedAt - putAt;
  for (let i = 1; i < PUTS; i++) expect(await putter.get()).toBe(100 + i);
  await until(async () => (await d.status()).stateEntryBytes === 0, 30_000, 'the gone gets out');

  figure('departed-line', {
    alone: {
      putsMs: Math.round(alone.ms),
      slowestMs: Math.round(alone.slowestMs),
      firstMs: round1(alone.firstMs),
      chargedMs: Math.round(alone.chargedMs),
    },
    beside: {
      putsMs: Math.round(beside.ms),
      slowestMs: Math.round(beside.slowestMs),
      firstMs: round1(beside.firstMs),
      chargedMs: Math.round(beside.chargedMs),
      waiterMs: Math.round(waiterMs),
    },
  });
  // Stepping over the 300,000 gone gets, the first put was charged 23-102 ms here (the putter then unread while it paid
  // that back: its slowest put 142-796 ms); paying nothing for them, 0.4-0.6 ms (its slowest put 21-46 ms). The
  // connection's first put alone, cold, 1.4-11 ms: hence the warm-up burst before.
  expect(beside.firstMs).toBeLessThan(6);
  expect((await d.status()).blockedGets).toBe(0);
}, 60_000);
