// efficiency.js - corepool on `efficiency`: client.map(busy1ms, N items) on 2
// workers with default chunking. efficiency = (N * 1 ms / workers) / wall.

import { check, nowMs, runMain } from '../lib/harness.js';
import { busy1ms } from '../lib/tasks.js';
import { withCorepool } from './daemon.js';

void runMain((p) =>
  withCorepool({ workers: p.workers }, async ({ client }) => {
    await client.map(
      busy1ms,
      Array.from({ length: p.warmupTasks ?? 200 }, (_, i) => i),
    ); // warm-up
    const items = Array.from({ length: p.tasks }, (_, i) => i);
    const t0 = nowMs();
    const out = await client.map(busy1ms, items);
    const wall = nowMs() - t0;
    const ok = check(out.length === p.tasks && out.every((v, i) => v === i), 'results differ from items');
    const note = `${p.tasks.toLocaleString('en')} x 1 ms in one client.map, ${p.workers} workers, default chunking${p.note ? `; ${p.note}` : ''}`;
    return [
      { scenario: p.scenario, system: p.system, metric: 'efficiency', value: p.tasks / p.workers / wall, unit: 'ratio', check: ok, note },
      { scenario: p.scenario, system: p.system, metric: 'wall_ms', value: wall, unit: 'ms', check: ok, note },
    ];
  }),
);
