// trivial.js - corepool on `trivial`: client.map(x => x * 2) over N items.

import { cpuSplit, cpuSplitRows } from '../lib/cpu.js';
import { check, median, nowMs, runMain } from '../lib/harness.js';
import { double, doubledSum } from '../lib/tasks.js';
import { descendants, withCorepool } from './daemon.js';

/** Times one client.map(double, 0..count-1) and checks its sum; returns wall ms. */
export async function timeTrivial(client, count) {
  const items = Array.from({ length: count }, (_, i) => i);
  const t0 = nowMs();
  const out = await client.map(double, items);
  const wall = nowMs() - t0;
  let sum = 0;
  for (const v of out) sum += v;
  return { wall, check: check(out.length === count && sum === doubledSum(count), `${out.length} results, sum ${sum}`) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  void runMain((p) =>
    withCorepool({ workers: p.workers, cluster: p.cluster }, async ({ daemon, client }) => {
      for (let i = 0; i < (p.warmups ?? 1); i++) await timeTrivial(client, p.items); // warm-up at full size
      const workers = descendants(daemon.pid);
      const cpu0 = cpuSplit(daemon.pid, workers);
      const runs = [];
      for (let i = 0; i < (p.timed ?? 1); i++) runs.push(await timeTrivial(client, p.items));
      const cpu1 = cpuSplit(daemon.pid, workers);
      const wall = median(runs.map((r) => r.wall));
      const ok = runs.find((r) => r.check !== 'ok')?.check ?? 'ok';
      const note = `${p.items.toLocaleString('en')} items in one client.map, ${p.workers} workers, default chunking; median of ${runs.length} runs`;
      return [
        { scenario: p.scenario, system: p.system, metric: 'items_per_s', value: p.items / (wall / 1e3), unit: 'items/s', check: ok, note },
        { scenario: p.scenario, system: p.system, metric: 'wall_ms', value: wall, unit: 'ms', check: ok, note },
        ...cpuSplitRows({ scenario: p.scenario, system: p.system, check: ok, note }, cpu0, cpu1, runs.length),
      ];
    }),
  );
}
