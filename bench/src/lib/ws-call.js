// ws-call.js - the client side of the bare ws + msgpack anchors (ws-echo.js,
// ws-ipc-chain.js): one socket, one request at a time, and the latency run
// both make over it.

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
