// ws-cluster-pool.js - the floor for `efficiency` with corepool's processes:
// the client is this process, the pool is a server in another (a node:cluster
// primary with 2 forked workers) that it reaches over one ws, as an app
// reaches the daemon. The client chunks the items as corepool's SDK chunks a
// batch it runs alone (one item until the first result, then chunks of 500 ms
// of work shrinking to a quarter of what is left per worker near the end),
// keeps two chunks per worker in flight, and sends each as msgpack over ws;
// the server hands them to its workers two at a time each (one running, one
// waiting in its pipe) over cluster IPC and sends each result back over ws.
// Nothing else: no scheduler, no journal, no fairness. `cluster-pool` is the
// same pool with its client in the primary (three processes, not four).
// Timed on its second map, as corepool is.

import cluster from 'node:cluster';
import { WebSocketServer } from 'ws';
import { pack, unpack } from 'msgpackr';
import { childMain, clusterWorkerReady } from '../lib/children.js';
import { announceListening, withWsServer } from '../lib/ws-call.js';
import { check, nowMs, readParams, runMain } from '../lib/harness.js';
import { busy1ms } from '../lib/tasks.js';

const self = new URL(import.meta.url).pathname;
/** Work a chunk aims at while its batch is alone (corepool's CUT_SOLO_CHUNK_TARGET_MS). */
const CHUNK_MS = 500;
/** Chunks each worker holds: one running, one waiting (corepool's default --pipeline-depth). */
const DEPTH = 2;

const role = cluster.isWorker ? 'worker' : readParams().role;

if (role === 'worker') {
  process.on('message', (/** @type {{ id: number, items: number[] }} */ m) => {
    const t0 = performance.now();
    const out = m.items.map(busy1ms);
    process.send?.({ id: m.id, out, ms: performance.now() - t0 });
  });
  process.send?.({ ready: true });
} else if (role === 'server') {
  void childMain(async (p) => {
    cluster.setupPrimary({ exec: self, args: [] });
    const workers = Array.from({ length: p.workers }, () => cluster.fork());
    await Promise.all(workers.map(clusterWorkerReady));
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    wss.on('connection', (ws) => {
      /** Chunks from the client not yet on a worker, and each worker's count of chunks held. */
      const queue = [];
      const held = new Map(workers.map((w) => [w, 0]));
      const place = () => {
        for (const w of workers) {
          while (queue.length > 0 && held.get(w) < DEPTH) {
            held.set(w, held.get(w) + 1);
            w.send(queue.shift());
          }
        }
      };
      for (const w of workers) {
        w.removeAllListeners('message');
        w.on('message', (/** @type {{ id: number, out: number[], ms: number }} */ m) => {
          held.set(w, held.get(w) - 1);
          ws.send(pack(m));
          place();
        });
      }
      ws.on('message', (data) => {
        queue.push(unpack(/** @type {Buffer} */ (data)));
        place();
      });
    });
    await announceListening(wss, workers);
  });
} else {
  void runMain((p) =>
    withWsServer(self, { workers: p.workers }, async (ws) => {
      await runMap(
        ws,
        p.workers,
        Array.from({ length: p.warmupTasks }, (_, i) => i),
      ); // warm-up
      const items = Array.from({ length: p.tasks }, (_, i) => i);
      const t0 = nowMs();
      const out = await runMap(ws, p.workers, items);
      const wall = nowMs() - t0;
      const ok = check(out.length === p.tasks && out.every((v, i) => v === i), 'results differ from items');
      const note = `${p.tasks.toLocaleString('en')} x 1 ms, a client process -> ws -> a node:cluster primary -> ${p.workers} forked workers, chunked as corepool, ${DEPTH} chunks per worker`;
      return [
        {
          scenario: p.scenario,
          system: p.system,
          metric: 'efficiency',
          value: p.tasks / p.workers / wall,
          unit: 'ratio',
          check: ok,
          note,
        },
        { scenario: p.scenario, system: p.system, metric: 'wall_ms', value: wall, unit: 'ms', check: ok, note },
      ];
    }),
  );
}

/**
 * Runs busy1ms over items on the server's workers; resolves with the results in order.
 * @param {import('ws').WebSocket} ws
 * @param {number} workers
 * @param {number[]} items
 */
function runMap(ws, workers, items) {
  return new Promise((resolve) => {
    const results = new Array(items.length);
    const starts = new Map();
    let next = 0;
    let done = 0;
    let inFlight = 0;
    let perItemMs = -1;
    let id = 0;
    const fill = () => {
      // One item until a result says how long an item takes, then chunks of CHUNK_MS.
      while (next < items.length && inFlight < (perItemMs < 0 ? 1 : workers * DEPTH)) {
        const left = items.length - next;
        const n = perItemMs < 0 ? 1 : Math.max(1, Math.min(Math.floor(CHUNK_MS / perItemMs), Math.ceil(left / (2 * workers))));
        const start = next;
        next += Math.min(n, left);
        starts.set(++id, start);
        inFlight++;
        ws.send(pack({ id, items: items.slice(start, next) }));
      }
    };
    ws.removeAllListeners('message');
    ws.on('message', (data) => {
      const m = /** @type {{ id: number, out: number[], ms: number }} */ (unpack(/** @type {Buffer} */ (data)));
      const start = starts.get(m.id);
      starts.delete(m.id);
      for (let i = 0; i < m.out.length; i++) results[start + i] = m.out[i];
      const sample = m.ms / m.out.length;
      perItemMs = perItemMs < 0 ? sample : (perItemMs * 3 + sample) / 4;
      done += m.out.length;
      inFlight--;
      if (done === items.length) resolve(results);
      else fill();
    });
    fill();
  });
}
