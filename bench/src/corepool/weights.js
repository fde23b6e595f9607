// weights.js - corepool on `weights`: three apps of weights 1, 2 and 3 share
// one daemon's workers, each with a long batch of items that hold their
// worker `itemMs` (Atomics.wait: a worker's time, not a core's, so a noisy
// machine skews it less). Each item reports when it ran; over the window
// where all three had work, each app's worker time is summed, whole and in
// `slices` equal parts of the window (shares over time). Reported as
// `ratio_w<k>` = worker time of weight k / worker time of weight 1 (k is
// fair), and per slice in the note.

import { check, runMain } from '../lib/harness.js';
import { connectTo, withCorepool } from './daemon.js';

/** Holds its worker `ms`; returns [start, end] in ms since the epoch. */
const hold = (ms) => {
  const start = performance.timeOrigin + performance.now();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return [start, performance.timeOrigin + performance.now()];
};

/** Worker time of `runs` within [from, to). */
function timeIn(runs, from, to) {
  let sum = 0;
  for (const [s, e] of runs) sum += Math.max(0, Math.min(e, to) - Math.max(s, from));
  return sum;
}

void runMain((p) =>
  withCorepool({ workers: p.workers }, async ({ daemon, client }) => {
    await client.map(hold, Array(50).fill(1)); // warm-up: workers up, the task compiled
    const apps = [];
    for (const weight of p.weights) {
      apps.push({ weight, client: await connectTo(daemon, { name: `w${weight}`, weight }) });
    }
    const runs = await Promise.all(apps.map((a) => a.client.map(hold, Array(p.items).fill(p.itemMs))));
    for (const a of apps) await a.client.close();
    // The window where every app had work: from the last first start to the first last end.
    const from = Math.max(...runs.map((r) => Math.min(...r.map(([s]) => s))));
    const to = Math.min(...runs.map((r) => Math.max(...r.map(([, e]) => e))));
    const base = p.weights.indexOf(1);
    const ratios = (a, b) => runs.map((r) => timeIn(r, a, b) / timeIn(runs[base], a, b));
    const whole = ratios(from, to);
    const step = (to - from) / p.slices;
    const slices = Array.from({ length: p.slices }, (_, i) => ratios(from + i * step, from + (i + 1) * step));
    process.stderr.write(
      `weights: window ${Math.round(to - from)} ms; ratios ${whole.map((r) => r.toFixed(2)).join(' ')}; per slice ${slices.map((s) => s.map((r) => r.toFixed(2)).join('/')).join(', ')}\n`,
    );
    return apps
      .filter((a) => a.weight !== 1)
      .map((a) => {
        const i = apps.indexOf(a);
        const r = whole[i];
        return {
          scenario: p.scenario,
          system: p.system,
          metric: `ratio_w${a.weight}`,
          value: r,
          unit: 'x',
          check: check(r > 0.7 * a.weight && r < 1.4 * a.weight, `weight ${a.weight} got ${r.toFixed(2)}x the worker time of weight 1`),
          note: `weights ${p.weights.join(', ')} on ${p.workers} workers, ${p.items} x ${p.itemMs} ms each; over ${Math.round(to - from)} ms with all busy; per ${p.slices}th of it: ${slices.map((s) => s[i].toFixed(2)).join(', ')}`,
        };
      });
  }),
);
