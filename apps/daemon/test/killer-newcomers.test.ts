/**
 * An app whose items kill workers and that comes back on a new connection after each kill, so
 * that no memory of its kills (one worker at most for 5 s, the restarts charged to it) ever
 * catches up with it, beside a healthy app. Each connection's memory dies with it, so before
 * newcomers' probation (fair-share.ts) every new connection placed its poison on every worker:
 * on 2 workers a neighbour's map of 100 items of 2 ms took ~50 s (4,200 such items in 6 s
 * alone). The bound below is a tenth of what the neighbour does alone, where its fair share is
 * about a half: it tells a neighbour served from one starved on any machine.
 */
import { expect, it } from 'vitest';
import { encodeData, sourceHash } from '@corepool/protocol';
import type { Client } from '@corepool/client';
import { useDaemon, type TestDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';

let d: TestDaemon;
useDaemon((x) => ({ d } = x));

const KILL = '(x) => process.exit(3)';

/** 2 ms of work an item. */
const busy = (x: number): number => {
  const end = performance.now() + 2;
  while (performance.now() < end) {
    /* busy */
  }
  return x * 2;
};

/** Items of an endless imap delivered in `ms` (then cancelled), every value checked. */
async function itemsIn(client: Client, ms: number): Promise<number> {
  function* endless(): Generator<number> {
    for (let i = 0; ; i++) yield i;
  }
  let items = 0;
  try {
    for await (const r of client.imap(busy, endless(), { signal: AbortSignal.timeout(ms) })) {
      expect(r).toBe(items * 2);
      items++;
    }
  } catch (e) {
    if ((e as Error).name !== 'TimeoutError') throw e;
  }
  return items;
}

/** Connects, sends poison chunks, leaves once the first of them has killed its worker; again until stopped. */
function killAndLeave(): { stop(): Promise<number> } {
  let stopped = false;
  let kills = 0;
  const loop = (async () => {
    while (!stopped) {
      const s = await d.raw({ hello: true });
      s.send({ type: 'batch.open', id: 1, task: { kind: 'source', hash: sourceHash(KILL), source: KILL }, timeoutMs: 0, retries: 0 });
      for (let i = 0; i < 4; i++) s.send({ type: 'batch.chunk', id: 1, start: i, count: 1, payload: encodeData([i]) });
      const crashed = await s
        .next((m) => m.type === 'chunk.result', 30_000)
        .then(
          () => true,
          () => false,
        );
      if (crashed) kills++;
      s.ws.close();
      await s.closed;
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return kills;
    },
  };
}

it('an app killing a worker from a new connection each time leaves a neighbour its share, and a newcomer is served', async () => {
  const healthy = await d.connect({ name: 'healthy' });
  const alone = await itemsIn(healthy, 3_000);
  const hostile = [killAndLeave(), killAndLeave()];
  let beside = 0;
  try {
    beside = await itemsIn(healthy, 3_000);
    expect(beside).toBeGreaterThan(alone / 10);
    // An app that arrives during the attack, with nothing run yet: held back with the killers, not shut out.
    const fresh = await d.connect({ name: 'fresh' });
    const xs = Array.from({ length: 200 }, (_, i) => i);
    // Generous: alone it takes ~0.5 s.
    expect(await fresh.map(busy, xs, { signal: AbortSignal.timeout(30_000) })).toEqual(xs.map((x) => x * 2));
    await fresh.close();
  } finally {
    const kills = (await Promise.all(hostile.map((h) => h.stop()))).reduce((a, b) => a + b, 0);
    figure('killerNewcomers.items', { alone, beside, kills });
  }
  await healthy.close();
}, 120_000);
