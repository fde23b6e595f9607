// ws-call.js - the plumbing of the bare ws + msgpack anchors (ws-echo.js,
// ws-ipc-chain.js, ws-cluster-pool.js, ws-ipc-forward.js): a server child that
// says where it listens, one socket to it, one request at a time, and the
// latency run made over it.

import { WebSocket } from 'ws';
import { pack, unpack } from 'msgpackr';
import { forkChild } from './children.js';
import { check, percentileRows, timeEchoes } from './harness.js';

/** Opens a ws to a bare server on this machine; resolves with call(message) -> reply, one request at a time. */
export async function openWsCall(port) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let pending = null;
  ws.on('message', (data) => {
    const r = pending;
    pending = null;
    r(unpack(/** @type {Buffer} */ (data)));
  });
  const call = (msg) =>
    new Promise((resolve) => {
      pending = resolve;
      ws.send(pack(msg));
    });
  return { ws, call };
}

/**
 * In a server child whose workers are node:cluster's: says `listening` with the port once `wss` listens,
 * and ends the workers and itself when the runner goes.
 * @param {import('ws').WebSocketServer} wss
 * @param {import('node:cluster').Worker[]} workers
 */
export async function announceListening(wss, workers) {
  await new Promise((resolve) => wss.once('listening', resolve));
  process.send?.({ type: 'listening', port: /** @type {import('node:net').AddressInfo} */ (wss.address()).port });
  process.on('disconnect', () => {
    for (const w of workers) w.kill();
    process.exit(0);
  });
}

/**
 * Forks `file` as a server (role 'server' with `params`; it announces its port), opens one ws to it without
 * compression and resolves with what body(ws, server) does with them; both are closed after.
 */
export async function withWsServer(file, params, body) {
  const server = forkChild(file, { role: 'server', ...params });
  try {
    const { port } = await server.expect('listening', 20_000);
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    try {
      return await body(ws, server);
    } finally {
      ws.close();
    }
  } finally {
    server.kill();
  }
}

/**
 * Forks `file` as a bare server (role 'server', it says `listening` with its port), times
 * p.count sequential submits over one ws after p.warmup, and resolves with the p50/p99 rows.
 */
export async function timeWsSubmits(file, p, note) {
  const server = forkChild(file, { role: 'server' });
  try {
    const { port } = await server.expect('listening', 10_000);
    const { ws, call } = await openWsCall(port);
    const { lat, bad } = await timeEchoes((id, item) => call({ type: 'submit', id, item }), p.warmup, p.count);
    ws.close();
    return percentileRows(p, lat, check(bad === 0, `${bad} wrong replies`), note);
  } finally {
    server.kill();
  }
}
