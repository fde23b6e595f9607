// ws-echo.js - the transport floor for `latency`: a bare ws server in its own
// process decodes a msgpack request and answers with a msgpack reply; the
// client sends one request at a time and times each round trip. A corepool
// submit makes this hop plus a worker IPC hop.

import { WebSocket, WebSocketServer } from 'ws';
import { pack, unpack } from 'msgpackr';
import { childMain, forkChild } from '../lib/children.js';
import { check, nowUs, percentile, readParams, runMain } from '../lib/harness.js';

if (readParams().role === 'server') {
  childMain(async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wss.on('connection', (ws) => {
      ws.on('message', (data) => {
        const req = unpack(data);
        ws.send(pack({ type: 'result', id: req.id, value: req.item * 2 }));
      });
    });
    await new Promise((resolve) => wss.once('listening', resolve));
    process.send({ type: 'listening', port: wss.address().port });
    process.on('disconnect', () => process.exit(0));
  });
} else {
  runMain(async (p) => {
    const server = forkChild(new URL(import.meta.url).pathname, { role: 'server' });
    try {
      const { port } = await server.expect('listening', 10_000);
      const ws = new WebSocket(`ws://127.0.0.1:${port}`);
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      let pending = null;
      ws.on('message', (data) => { const r = pending; pending = null; r(unpack(data)); });
      const call = (id, item) => new Promise((resolve) => {
        pending = resolve;
        ws.send(pack({ type: 'submit', id, item }));
      });
      for (let i = 0; i < p.warmup; i++) await call(i, i);
      const lat = new Float64Array(p.count);
      let bad = 0;
      for (let i = 0; i < p.count; i++) {
        const t0 = nowUs();
        const reply = await call(i, i);
        lat[i] = nowUs() - t0;
        if (reply.id !== i || reply.value !== 2 * i) bad++;
      }
      ws.close();
      const ok = check(bad === 0, `${bad} wrong replies`);
      const note = `${p.count} sequential round trips, ${pack({ type: 'submit', id: 1000, item: 1000 }).length}-byte msgpack requests, server in its own process`;
      return [
        { scenario: p.scenario, system: p.system, metric: 'p50_us', value: percentile(lat, 50), unit: 'us', check: ok, note },
        { scenario: p.scenario, system: p.system, metric: 'p99_us', value: percentile(lat, 99), unit: 'us', check: ok, note },
      ];
    } finally {
      server.kill();
    }
  });
}
