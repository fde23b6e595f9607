// cluster-pool.js - the floor for `efficiency`: a bare node:cluster pool
// running the same busy1ms over the same items as corepool's runner, chunked
// as corepool's client chunks a batch it runs alone (one item until the first
// result, then chunks of 500 ms of work shrinking to a quarter of what is left
// per worker near the end), two chunks held by each worker (one running, one
// waiting in its pipe), results over cluster IPC. Nothing else: no daemon, no
// WebSocket, no client process, no journal. Timed on its second map, as
// corepool is.

import cluster from 'node:cluster';
import { clusterWorkerReady } from '../lib/children.js';
import { check, nowMs, runMain } from '../lib/harness.js';
import { busy1ms } from '../lib/tasks.js';

/** Work a chunk aims at while its batch is alone (corepool's SOLO_CHUNK_TARGET_MS). */
const CHUNK_MS = 500;
/** Chunks each worker holds: one running, one waiting (corepool's default --pipeline-depth). */
const DEPTH = 2;

if (cluster.isPrimary) {
  void runMain(async (p) => {
    cluster.setupPrimary({ args: [] });
    const workers = Array.from({ length: p.workers }, () => cluster.fork());
    await Promise.all(workers.map(clusterWorkerReady));
    try {
      await runMap(
        workers,
        Array.from({ length: p.warmupTasks }, (_, i) => i),
      ); // warm-up
      const items = Array.from({ length: p.tasks }, (_, i) => i);
      const t0 = nowMs();
      const out = await runMap(workers, items);
      const wall = nowMs() - t0;
      const ok = check(out.length === p.tasks && out.every((v, i) => v === i), 'results differ from items');
      const note = `${p.tasks.toLocaleString('en')} x 1 ms, ${p.workers} forked workers, chunked as corepool, ${DEPTH} chunks per worker`;
      return [
        { scenario: p.scenario, system: p.system, metric: 'efficiency', value: p.tasks / p.workers / wall, unit: 'ratio', check: ok, note },
        { scenario: p.scenario, system: p.system, metric: 'wall_ms', value: wall, unit: 'ms', check: ok, note },
      ];
    } finally {
      for (const w of workers) w.kill();
    }
  });
} else {
  process.on('message', (/** @type {{ start: number, items: number[] }} */ m) => {
    const t0 = performance.now();
    const out = m.items.map(busy1ms);
    process.send({ start: m.start, out, ms: performance.now() - t0 });
  });
  process.send({ ready: true });
}

/** Runs busy1ms over items on the workers; resolves with the results in order. */
function runMap(workers, items) {
  return new Promise((resolve, reject) => {
    const results = new Array(items.length);
    let next = 0;
    let done = 0;
    let perItemMs = -1;
    const sendNext = (w) => {
      const left = items.length - next;
      if (left <= 0) return;
      const n = perItemMs < 0 ? 1 : Math.max(1, Math.min(Math.floor(CHUNK_MS / perItemMs), Math.ceil(left / (2 * workers.length))));
      const start = next;
      next += Math.min(n, left);
      w.send({ start, items: items.slice(start, next) });
    };
    for (const w of workers) {
      w.removeAllListeners('message');
      w.removeAllListeners('exit');
      w.once('exit', (code, signal) => reject(new Error(`cluster worker exited (code ${code}, signal ${signal})`)));
      w.on('message', (m) => {
        for (let i = 0; i < m.out.length; i++) results[m.start + i] = m.out[i];
        const sample = m.ms / m.out.length;
        perItemMs = perItemMs < 0 ? sample : (perItemMs * 3 + sample) / 4;
        done += m.out.length;
        if (done === items.length) resolve(results);
        else sendNext(w);
      });
      for (let k = 0; k < DEPTH; k++) sendNext(w);
    }
  });
}
