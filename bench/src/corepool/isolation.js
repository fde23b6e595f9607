// isolation.js - corepool on `isolation`: what keeping apps that share a
// worker apart costs (the realm guard of apps/daemon/src/worker), on 1 worker.
//  - per item: one client, trivial items (sync, then async) in chunks of
//    1,000; us per item (each item runs in its realm's async context, and
//    the timers it leaves are cleared).
//  - per switch: chunks of 10 trivial items from one client, then the same
//    number of chunks from two clients at once: the scheduler alternates
//    them, so every chunk changes realm (globals checked and put back). The
//    difference per chunk is the cost of a switch.
// Run it against another build with COREPOOL_BENCH_CLI=<that build's dist/cli.js>.

import { check, nowMs, runMain } from '../lib/harness.js';
import { double } from '../lib/tasks.js';
import { connectTo, withCorepool } from './daemon.js';

async function asyncDouble(x) {
  return x * 2;
}

/** Best wall time (ms) of `rounds` runs of `run`, and whether every run returned the right results. */
async function best(rounds, run) {
  let ms = Infinity;
  let ok = true;
  for (let r = 0; r < rounds; r++) {
    const t0 = nowMs();
    ok = (await run()) && ok;
    ms = Math.min(ms, nowMs() - t0);
  }
  return { ms, ok };
}

const doubled = (out, n) => out.length === n && out.every((v, i) => v === 2 * i);

void runMain((p) =>
  withCorepool({ workers: 1 }, async ({ daemon, client }) => {
    const other = await connectTo(daemon);
    try {
      const items = Array.from({ length: p.items }, (_, i) => i);
      const small = Array.from({ length: p.chunks * 10 }, (_, i) => i);
      const half = small.slice(0, small.length / 2);
      // Warm-up: both clients, both tasks, both chunk sizes.
      for (const c of [client, other]) {
        await c.map(double, items, { chunkSize: 1000 });
        await c.map(asyncDouble, items, { chunkSize: 1000 });
        await c.map(double, small, { chunkSize: 10 });
      }
      const sync = await best(p.rounds, async () => doubled(await client.map(double, items, { chunkSize: 1000 }), items.length));
      const asy = await best(p.rounds, async () => doubled(await client.map(asyncDouble, items, { chunkSize: 1000 }), items.length));
      const one = await best(p.rounds, async () => doubled(await client.map(double, small, { chunkSize: 10 }), small.length));
      const two = await best(p.rounds, async () => {
        const [a, b] = await Promise.all([client.map(double, half, { chunkSize: 10 }), other.map(double, half, { chunkSize: 10 })]);
        return doubled(a, half.length) && doubled(b, half.length);
      });
      const ok = check(sync.ok && asy.ok && one.ok && two.ok, 'wrong results');
      const row = (metric, value, note) => ({ scenario: p.scenario, system: p.system, metric, value, unit: 'us', check: ok, note });
      const chunk1 = (one.ms * 1e3) / p.chunks;
      const chunk2 = (two.ms * 1e3) / p.chunks;
      return [
        row(
          'sync_item_us',
          (sync.ms * 1e3) / items.length,
          `${items.length.toLocaleString('en')} x => x * 2 in chunks of 1,000, best of ${p.rounds}`,
        ),
        row(
          'async_item_us',
          (asy.ms * 1e3) / items.length,
          `${items.length.toLocaleString('en')} async x => x * 2 in chunks of 1,000, best of ${p.rounds}`,
        ),
        row('chunk_us_1_client', chunk1, `${p.chunks.toLocaleString('en')} chunks of 10 from one client`),
        row(
          'chunk_us_2_clients',
          chunk2,
          `${p.chunks.toLocaleString('en')} chunks of 10, half from each of two clients (each chunk changes realm)`,
        ),
        row('switch_us', chunk2 - chunk1, 'chunk_us_2_clients - chunk_us_1_client'),
      ];
    } finally {
      await other.close().catch(() => {});
    }
  }),
);
