// sequential.js - the `cpu` baseline: the 8 equal tasks one after another in
// this one process. run.js divides this wall time by each Node pool's wall
// time from the same round to get their speedups.

import { checkHeavy, runMain, nowMs, spin } from '../lib/harness.js';
import { heavy } from '../lib/tasks.js';

void runMain(async (p) => {
  const item = { n: p.n, iters: p.iters };
  heavy({ n: p.n, iters: Math.floor(p.iters / 4) }); // warm-up: optimized code
  heavy({ n: p.n, iters: Math.floor(p.iters / 4) });
  spin(500); // as the Python anchor does: a fresh process on this VM can start slow
  const t0 = nowMs();
  const out = [];
  for (let i = 0; i < p.tasks; i++) out.push(heavy(item));
  const wall = nowMs() - t0;
  return [
    {
      scenario: p.scenario,
      system: p.system,
      metric: 'wall_ms',
      value: wall,
      unit: 'ms',
      check: checkHeavy(out, p),
      note: `${p.tasks} tasks x ${p.iters.toLocaleString('en')} iterations, i % ${p.n + 1}${p.note ? `; ${p.note}` : ''}`,
    },
  ];
});
