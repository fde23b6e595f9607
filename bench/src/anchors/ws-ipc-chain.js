// ws-ipc-chain.js - the floor of `latency` as one path: a client sends one
// small msgpack request over ws to a server that is a node:cluster primary;
// the server hands the item to a forked cluster worker (default 'json'
// serialization), which answers with it doubled, and the server sends that
// back over ws. One request at a time, each round trip timed. This is a
// corepool submit's path (client -> primary -> worker -> primary -> client)
// with nothing on it but the two transports: no scheduler, no SDK, no task
// lookup. `ws+ipc-echo` sums the two hops measured apart; this chains them.

import cluster from 'node:cluster';
import { WebSocketServer } from 'ws';
import { pack, unpack } from 'msgpackr';
import { childMain, clusterWorkerReady } from '../lib/children.js';
import { readParams, runMain } from '../lib/harness.js';
import { timeWsSubmits } from '../lib/ws-call.js';

const self = new URL(import.meta.url).pathname;
const role = cluster.isWorker ? 'worker' : readParams().role;

if (role === 'worker') {
  process.on('message', (/** @type {{ id: number, item: number }} */ m) => process.send?.({ id: m.id, value: m.item * 2 }));
  process.send?.({ ready: true });
} else if (role === 'server') {
  void childMain(async () => {
    cluster.setupPrimary({ exec: self, serialization: 'json', args: [] });
    const worker = cluster.fork();
    await clusterWorkerReady(worker);
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wss.on('connection', (ws) => {
      // One request at a time (the client awaits each): the worker's reply goes to this socket.
      worker.on('message', (/** @type {{ id: number, value: number }} */ m) => ws.send(pack({ type: 'result', id: m.id, value: m.value })));
      ws.on('message', (data) => {
        const req = unpack(/** @type {Buffer} */ (data));
        worker.send({ id: req.id, item: req.item });
      });
    });
    await new Promise((resolve) => wss.once('listening', resolve));
    process.send?.({ type: 'listening', port: /** @type {import('node:net').AddressInfo} */ (wss.address()).port });
    process.on('disconnect', () => {
      worker.kill();
      process.exit(0);
    });
  });
} else {
  void runMain((p) =>
    timeWsSubmits(
      self,
      p,
      `${p.count} sequential round trips client -> ws server (a node:cluster primary) -> forked cluster worker (json) -> server -> client, msgpack over ws`,
    ),
  );
}
