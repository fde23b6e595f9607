// ipc-echo.js - the worker hop's floor for `latency`: a node:cluster primary
// sends one small message to a forked cluster worker (default 'json'
// serialization), which answers with the item doubled; one at a time, each
// round trip timed. A corepool submit makes this hop plus the ws hop of
// ws-echo.js, so their sum is what the path cannot go below.

import cluster from 'node:cluster';
import { clusterWorkerReady } from '../lib/children.js';
import { check, percentileRows, runMain, timeEchoes } from '../lib/harness.js';

if (cluster.isPrimary) {
  void runMain(async (p) => {
    cluster.setupPrimary({ serialization: 'json', args: [] });
    const worker = cluster.fork();
    try {
      await clusterWorkerReady(worker);
      let pending = null;
      worker.on('message', (m) => {
        const r = pending;
        pending = null;
        r(m);
      });
      const call = (id, item) =>
        new Promise((resolve) => {
          pending = resolve;
          worker.send({ id, item });
        });
      const { lat, bad } = await timeEchoes(call, p.warmup, p.count);
      const ok = check(bad === 0, `${bad} wrong replies`);
      const note = `${p.count} sequential round trips primary -> forked cluster worker -> primary, json serialization`;
      return percentileRows(p, lat, ok, note);
    } finally {
      worker.kill();
    }
  });
} else {
  process.on('message', (/** @type {{ id: number, item: number }} */ m) => process.send({ id: m.id, value: m.item * 2 }));
  process.send({ ready: true });
}
