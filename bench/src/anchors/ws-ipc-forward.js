// ws-ipc-forward.js - the floor of `trivial` with corepool's processes and
// transports: the items start in this client process, as an app's do, and go
// as msgpack batches over one ws to a server in another process (a
// node:cluster primary) that only forwards bytes: each ws message, as it
// came, to a worker over a private socket pair (length-prefixed, as the
// daemon's data channel is), and each worker's answer, as it came, back over
// the ws. The workers decode, double and encode; the client decodes the
// results. No scheduler, no fairness, no decoding in the middle: what any
// pool reached by an app in its own process pays at least, where
// `cluster-ipc` keeps its items in the primary and has no client hop.

import cluster from 'node:cluster';
import { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { pack, unpack } from 'msgpackr';
import { childMain, clusterWorkerReady } from '../lib/children.js';
import { descendants } from '../corepool/daemon.js';
import { cpuSplit, cpuSplitRows } from '../lib/cpu.js';
import { announceListening, withWsServer } from '../lib/ws-call.js';
import { concat, readParams, runMain, timeDoubledRuns } from '../lib/harness.js';
import { doubleBatch } from '../lib/tasks.js';

const self = new URL(import.meta.url).pathname;
/** The worker's end of its socket pair (the daemon's data channel is fd 4 too). */
const DATA_FD = 4;
const role = cluster.isWorker ? 'worker' : readParams().role;

if (role === 'worker') {
  const sock = new Socket({ fd: DATA_FD, readable: true, writable: true });
  onFrames(sock, (body) => {
    const m = /** @type {{ id: number, items: number[] }} */ (unpack(body));
    writeFrame(sock, pack({ id: m.id, out: doubleBatch(m.items) }));
  });
  process.send?.({ ready: true });
} else if (role === 'server') {
  void childMain(async (p) => {
    cluster.setupPrimary({ exec: self, args: [], stdio: ['inherit', 'inherit', 'inherit', 'ipc', 'pipe'] });
    const workers = Array.from({ length: p.workers }, () => cluster.fork());
    await Promise.all(workers.map(clusterWorkerReady));
    const socks = workers.map((w) => /** @type {Socket} */ (w.process.stdio[DATA_FD]));
    const held = socks.map(() => 0);
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    wss.on('connection', (ws) => {
      socks.forEach((sock, k) => {
        sock.removeAllListeners('data');
        onFrames(sock, (body) => {
          held[k]--;
          ws.send(body);
        });
      });
      // The client keeps at most `window` batches per worker in flight: the least held takes the next.
      ws.on('message', (data) => {
        let k = 0;
        for (let j = 1; j < held.length; j++) if (held[j] < held[k]) k = j;
        held[k]++;
        writeFrame(socks[k], /** @type {Buffer} */ (data));
      });
    });
    await announceListening(wss, workers);
  });
} else {
  void runMain((p) =>
    withWsServer(self, { workers: p.workers }, async (ws, server) => {
      for (let i = 0; i < (p.warmups ?? 1); i++) await runBatch(ws, numbers(p.items), p); // warm-up at full size
      const workers = descendants(server.child.pid);
      const cpu0 = cpuSplit(server.child.pid, workers);
      // The items made for each run, as corepool's runner makes its own.
      const { wall, runs, ok } = await timeDoubledRuns(
        p,
        (items) => runBatch(ws, items, p),
        () => numbers(p.items),
      );
      const cpu1 = cpuSplit(server.child.pid, workers);
      const note =
        `${p.items.toLocaleString('en')} items from a client process, ${p.batch} per msgpack message over ws to a node:cluster ` +
        `primary that forwards the bytes over socket pairs, <= ${p.window} messages in flight per worker; median of ${runs} runs`;
      return [
        {
          scenario: p.scenario,
          system: p.system,
          metric: 'items_per_s',
          value: p.items / (wall / 1e3),
          unit: 'items/s',
          check: ok,
          note,
        },
        { scenario: p.scenario, system: p.system, metric: 'wall_ms', value: wall, unit: 'ms', check: ok, note },
        ...cpuSplitRows({ scenario: p.scenario, system: p.system, check: ok, note }, cpu0, cpu1, runs),
      ];
    }),
  );
}

/** 0 .. n-1. */
function numbers(n) {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * Sends items in batches over the ws, at most `window` per worker unanswered; results in order.
 * @param {import('ws').WebSocket} ws
 * @param {number[]} items
 * @param {{ batch: number, window: number, workers: number }} p
 */
function runBatch(ws, items, p) {
  return new Promise((resolve) => {
    const batches = Math.ceil(items.length / p.batch);
    const results = new Array(batches);
    let next = 0;
    let done = 0;
    const sendNext = () => {
      if (next >= batches) return;
      const id = next++;
      ws.send(pack({ id, items: items.slice(id * p.batch, (id + 1) * p.batch) }));
    };
    ws.removeAllListeners('message');
    ws.on('message', (data) => {
      const m = /** @type {{ id: number, out: number[] }} */ (unpack(/** @type {Buffer} */ (data)));
      results[m.id] = m.out;
      if (++done === batches) resolve(concat(results, items.length));
      else sendNext();
    });
    for (let k = 0; k < p.window * p.workers; k++) sendNext();
  });
}

/**
 * Calls onFrame with each length-prefixed frame's body read from sock.
 * @param {Socket} sock
 * @param {(body: Buffer) => void} onFrame
 */
function onFrames(sock, onFrame) {
  let pending = Buffer.alloc(0);
  sock.on('data', (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (pending.length - at >= 4) {
      const len = pending.readUInt32LE(at);
      if (pending.length - at - 4 < len) break;
      onFrame(pending.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
    pending = pending.subarray(at);
  });
}

/**
 * Writes body to sock behind its length.
 * @param {Socket} sock
 * @param {Buffer | Uint8Array} body
 */
function writeFrame(sock, body) {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(body.length, 0);
  sock.write(head);
  sock.write(body);
}
