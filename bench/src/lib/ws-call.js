// ws-call.js - the client side of the bare ws + msgpack anchors (ws-echo.js,
// ws-ipc-chain.js): one socket, one request at a time.

import { WebSocket } from 'ws';
import { pack, unpack } from 'msgpackr';

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
