// flood-neighbour.js - corepool on `floodNeighbour` (lib/flood-neighbour.js): awaited
// value.add(1) here; the flooder is a raw WebSocket client speaking the wire protocol
// (msgpack maps; an add's operand is the data encoding of 1, one byte), which acknowledges
// what it was answered so that the daemon keeps no more replies than are in flight.

import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { childMain } from '../lib/children.js';
import { floodNeighbour, flood, loopFor } from '../lib/flood-neighbour.js';
import { readParams, runMain } from '../lib/harness.js';
import { withCorepool } from './daemon.js';

const self = new URL(import.meta.url).pathname;
const params = readParams();

if (params.role === 'flooder') {
  void childMain(async (p) => {
    const packr = new Packr({ useRecords: false });
    const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
    const ws = new WebSocket(p.daemon.url, { perMessageDeflate: false });
    const ONE = Uint8Array.of(1);
    let rid = 0;
    let highest = 0;
    const send = () => {
      const msgs = [];
      for (let i = 0; i < 1000; i++)
        msgs.push({ type: 'state', rid: ++rid, op: 'value.add', name: 'flood', a: ONE, ...(i === 0 ? { ack: highest + 1 } : {}) });
      ws.send(packr.pack(msgs));
    };
    let replies;
    ws.on('open', () => ws.send(packr.pack({ type: 'hello', v: 1, token: p.daemon.token, instance: `flood-${process.pid}` })));
    ws.on('message', (data) => {
      const decoded = unpackr.unpack(/** @type {Buffer} */ (data));
      let n = 0;
      for (const m of Array.isArray(decoded) ? decoded : [decoded]) {
        if (m.type === 'welcome') replies = flood({}, send);
        else if (m.type === 'reply') {
          n++;
          if (m.rid > highest) highest = m.rid;
        } else if (m.type === 'error') throw new Error(`flooder refused: ${m.error?.code} ${m.error?.message}`);
      }
      if (n > 0) replies(n);
    });
    await new Promise((_, reject) => ws.on('close', (code) => reject(new Error(`flooder's socket closed (${code})`))));
  });
} else {
  void runMain((p) =>
    withCorepool({ workers: p.workers }, async ({ daemon, client }) => {
      const v = client.value('neighbour', { initial: 0 });
      await v.get();
      const rows = await floodNeighbour(p, (ms) => loopFor(ms, () => v.add(1)), self, { daemon: { url: daemon.url, token: daemon.token } });
      return rows.map((r) => ({ scenario: p.scenario, system: p.system, ...r }));
    }),
  );
}
