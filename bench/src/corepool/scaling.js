// scaling.js - corepool on `scaling`: trivial maps of several sizes on a
// daemon with 1 worker and on one with 2. Also reports, per size, the 2-worker
// over 1-worker throughput measured in this same run.

import { runMain } from '../lib/harness.js';
import { withCorepool } from './daemon.js';
import { timeTrivial } from './trivial.js';

const label = (n) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);

void runMain(async (p) => {
  const rows = [];
  const perSec = {};
  for (const workers of p.workerCounts) {
    const system = `corepool-${workers}w`;
    await withCorepool({ workers }, async ({ client }) => {
      await timeTrivial(client, p.warmupSize ?? Math.max(...p.sizes)); // warm-up
      for (const size of p.sizes) {
        const { wall, check } = await timeTrivial(client, size);
        perSec[`${workers}:${size}`] = size / (wall / 1e3);
        rows.push({
          scenario: p.scenario,
          system,
          metric: `items_per_s_${label(size)}`,
          value: size / (wall / 1e3),
          unit: 'items/s',
          check,
          note: `${size.toLocaleString('en')} items in one client.map, ${workers} worker(s)`,
        });
      }
    });
  }
  const [a, b] = p.workerCounts;
  if (a !== undefined && b !== undefined) {
    for (const size of p.sizes) {
      rows.push({
        scenario: p.scenario,
        system: `corepool-${b}w/${a}w`,
        metric: `speedup_${label(size)}`,
        value: perSec[`${b}:${size}`] / perSec[`${a}:${size}`],
        unit: 'x',
        check: 'ok',
        note: 'same run',
      });
    }
  }
  return rows;
});
