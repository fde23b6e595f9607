// cluster-ipc.js - the raw floor for `trivial`: node:cluster with 2 workers,
// items sent over the IPC channel in batches of 1,000 per message with the
// default 'json' serialization, a bounded number of batches in flight per
// worker. This is what corepool's worker hop costs at least.

import cluster from 'node:cluster';
import { clusterWorkerReady } from '../lib/children.js';
import { concat, runMain, timeDoubledRuns } from '../lib/harness.js';
import { doubleBatch } from '../lib/tasks.js';

if (cluster.isPrimary) {
  void runMain(async (p) => {
    cluster.setupPrimary({ serialization: 'json', args: [] });
    const workers = Array.from({ length: p.workers }, () => cluster.fork());
    await Promise.all(workers.map(clusterWorkerReady));
    try {
      const items = Array.from({ length: p.items }, (_, i) => i);
      for (let i = 0; i < (p.warmups ?? 1); i++) await runBatch(workers, items, p); // warm-up
      const { wall, runs, ok } = await timeDoubledRuns(p, () => runBatch(workers, items, p));
      const note = `${p.items.toLocaleString('en')} items, ${p.batch} per message, json, <= ${p.window} messages in flight per worker; median of ${runs} runs`;
      return [
        { scenario: p.scenario, system: p.system, metric: 'items_per_s', value: p.items / (wall / 1e3), unit: 'items/s', check: ok, note },
        { scenario: p.scenario, system: p.system, metric: 'wall_ms', value: wall, unit: 'ms', check: ok, note },
      ];
    } finally {
      for (const w of workers) w.kill();
    }
  });
} else {
  process.on('message', (/** @type {{ id: number, items: number[] }} */ msg) => process.send({ id: msg.id, out: doubleBatch(msg.items) }));
  process.send({ ready: true });
}

/** Sends items in batches to the workers, at most `window` unanswered per worker; results in order. */
function runBatch(workers, items, p) {
  return new Promise((resolve, reject) => {
    const batches = Math.ceil(items.length / p.batch);
    const results = new Array(batches);
    let next = 0;
    let done = 0;
    const sendNext = (w) => {
      if (next >= batches) return;
      const id = next++;
      w.send({ id, items: items.slice(id * p.batch, (id + 1) * p.batch) });
    };
    for (const w of workers) {
      w.removeAllListeners('message');
      w.removeAllListeners('exit');
      w.once('exit', (code, signal) => reject(new Error(`cluster worker exited (code ${code}, signal ${signal})`)));
      w.on('message', (msg) => {
        results[msg.id] = msg.out;
        if (++done === batches) resolve(concat(results, items.length));
        else sendNext(w);
      });
      for (let k = 0; k < p.window; k++) sendNext(w);
    }
  });
}
