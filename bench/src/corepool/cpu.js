// cpu.js - corepool on `cpu`: client.map(heavy, 8 equal items) on 2 workers.
// run.js turns wall_ms into a speedup with sequential.js from the same round.

import { checkHeavy, nowMs, runMain } from '../lib/harness.js';
import { heavy } from '../lib/tasks.js';
import { withCorepool } from './daemon.js';

void runMain((p) =>
  withCorepool({ workers: p.workers, cluster: p.cluster }, async ({ client }) => {
    const opts = p.chunkSize ? { chunkSize: p.chunkSize } : {};
    const warm = { n: p.n, iters: Math.floor(p.iters / 4) };
    await client.map(
      heavy,
      Array.from({ length: p.workers * 2 }, () => warm),
      opts,
    ); // warm-up: compiled, optimized
    const items = Array.from({ length: p.tasks }, () => ({ n: p.n, iters: p.iters }));
    const t0 = nowMs();
    const out = await client.map(heavy, items, opts);
    const wall = nowMs() - t0;
    return [
      {
        scenario: p.scenario,
        system: p.system,
        metric: 'wall_ms',
        value: wall,
        unit: 'ms',
        check: checkHeavy(out, p),
        note: `${p.tasks} items in one client.map, ${p.workers} workers, ${p.chunkSize ? `chunkSize ${p.chunkSize}` : 'default chunking'}${p.note ? `; ${p.note}` : ''}`,
      },
    ];
  }),
);
