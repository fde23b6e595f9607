// piscina.js - piscina anchors (a worker-thread pool in the app's own process)
// for cpu, efficiency, trivial (batched by hand: 1,000 items per run()) and
// latency. Each runs warm: the pool is created and used before timing.

import { Piscina } from 'piscina';
import { check, checkHeavy, concat, nowMs, nowUs, percentile, runMain, timeDoubledRuns, timeSteps } from '../lib/harness.js';

const filename = new URL('./piscina-worker.js', import.meta.url).href;

function note(p, text) {
  return p.note ? `${text}; ${p.note}` : text;
}

const scenarios = {
  async cpu(pool, p) {
    const item = { n: p.n, iters: p.iters };
    const warm = { n: p.n, iters: Math.floor(p.iters / 4) };
    await Promise.all(Array.from({ length: p.workers * 2 }, () => pool.run(warm, { name: 'heavy' })));
    const t0 = nowMs();
    const out = await Promise.all(Array.from({ length: p.tasks }, () => pool.run(item, { name: 'heavy' })));
    const wall = nowMs() - t0;
    return [
      {
        metric: 'wall_ms',
        value: wall,
        unit: 'ms',
        check: checkHeavy(out, p),
        note: note(p, `${p.tasks} run() via Promise.all, ${p.workers} threads`),
      },
    ];
  },

  async efficiency(pool, p) {
    await Promise.all(Array.from({ length: p.warmupTasks ?? 200 }, (_, i) => pool.run(i, { name: 'busy1ms' })));
    const t0 = nowMs();
    const out = await Promise.all(Array.from({ length: p.tasks }, (_, i) => pool.run(i, { name: 'busy1ms' })));
    const wall = nowMs() - t0;
    const ideal = (p.tasks * 1) / p.workers;
    const ok = check(out.length === p.tasks && out.every((v, i) => v === i), 'results differ from items');
    const n = note(p, `${p.tasks.toLocaleString('en')} run() via Promise.all, one item each, ${p.workers} threads`);
    return [
      { metric: 'efficiency', value: ideal / wall, unit: 'ratio', check: ok, note: n },
      { metric: 'wall_ms', value: wall, unit: 'ms', check: ok, note: n },
    ];
  },

  async trivial(pool, p) {
    const items = Array.from({ length: p.items }, (_, i) => i);
    const run = async () => {
      const jobs = [];
      for (let i = 0; i < items.length; i += p.batch) jobs.push(pool.run(items.slice(i, i + p.batch), { name: 'doubleBatch' }));
      return concat(await Promise.all(jobs), items.length);
    };
    for (let i = 0; i < (p.warmups ?? 1); i++) await run(); // warm-up
    const { wall, runs, ok } = await timeDoubledRuns(p, run);
    const n = note(p, `${p.items.toLocaleString('en')} items, ${p.batch} per run(), ${p.workers} threads; median of ${runs} runs`);
    return [
      { metric: 'items_per_s', value: p.items / (wall / 1e3), unit: 'items/s', check: ok, note: n },
      { metric: 'wall_ms', value: wall, unit: 'ms', check: ok, note: n },
    ];
  },

  async latency(pool, p) {
    let bad = 0;
    const lat = await timeSteps(p.warmup, p.count, async (i) => {
      const t0 = nowUs();
      const r = await pool.run(i, { name: 'double' });
      const us = nowUs() - t0;
      if (r !== 2 * i) bad++;
      return us;
    });
    const ok = check(bad === 0, `${bad} wrong results`);
    const n = note(p, `${p.count} sequential run(), ${p.workers} threads`);
    return [
      { metric: 'p50_us', value: percentile(lat, 50), unit: 'us', check: ok, note: n },
      { metric: 'p99_us', value: percentile(lat, 99), unit: 'us', check: ok, note: n },
    ];
  },
};

void runMain(async (p) => {
  const body = scenarios[p.scenario];
  if (!body) throw new Error(`piscina has no scenario '${p.scenario}'`);
  const pool = new Piscina({ filename, minThreads: p.workers, maxThreads: p.workers, idleTimeout: 60_000 });
  try {
    const rows = await body(pool, p);
    return rows.map((r) => ({ scenario: p.scenario, system: p.system, ...r }));
  } finally {
    await pool.destroy();
  }
});
