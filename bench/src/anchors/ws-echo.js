// ws-echo.js - the transport floor of a daemon that speaks ws + msgpack: a
// bare ws server in its own process decodes a msgpack request and answers
// with a msgpack reply.
//   latency  one client sends one request at a time and times each round
//            trip (a corepool submit makes this hop plus a worker IPC hop);
//   counter  N app processes, each awaiting one `add` at a time on a counter
//            the server keeps in memory (no store, no durability): the most
//            any ws + msgpack server could reach in corepool's `counter`.
//            With `journal`, the floor of a server whose acknowledged writes
//            survive kill -9, as corepool's do under --fsync everysec: each
//            event-loop turn's writes (counter value and reply) are appended
//            to a file with one write before their replies go out, and the
//            file is fsynced once a second.
//   notify   this process sets a value the server keeps, one `set` at a time;
//            a subscriber in another process gets each change pushed and
//            acknowledges it with its latency (the send time travels in the
//            value, on CLOCK_MONOTONIC): corepool's `notify` with nothing but
//            the two ws hops, and with `journal`, the append before them.

import { closeSync, fsync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { pack, unpack } from 'msgpackr';
import { childMain, forkChild, fromParent } from '../lib/children.js';
import { cpuRows, procCpuUs, selfCpuUs } from '../lib/cpu.js';
import { openWsCall as open, timeWsSubmits } from '../lib/ws-call.js';
import { check, nowMs, nowUs, percentileRows, readParams, runMain, timeSteps } from '../lib/harness.js';

const self = new URL(import.meta.url).pathname;

const role = readParams().role;
if (role === 'server') {
  void childMain(async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    let counter = 0;
    const journal = readParams().journal ? openJournal() : undefined;
    /** Sends a write's reply (and pushes) once the write is appended, or at once without a journal. */
    const acknowledge = (record, send) => (journal ? journal.write(record, send) : send());
    let value = null;
    /** @type {Set<import('ws').WebSocket>} */
    const subscribers = new Set();
    wss.on('connection', (ws) => {
      ws.on('close', () => subscribers.delete(ws));
      ws.on('message', (data) => {
        const req = unpack(/** @type {Buffer} */ (data));
        if (req.type === 'add') {
          counter += req.delta;
          const reply = { type: 'reply', rid: req.rid, ok: true, value: counter };
          acknowledge(reply, () => ws.send(pack(reply)));
        } else if (req.type === 'set') {
          value = req.value;
          const reply = { type: 'reply', rid: req.rid, ok: true };
          acknowledge([value, reply], () => {
            ws.send(pack(reply));
            const push = pack({ type: 'push', value });
            for (const s of subscribers) s.send(push);
          });
        } else if (req.type === 'subscribe') {
          subscribers.add(ws);
          ws.send(pack({ type: 'reply', rid: req.rid, ok: true }));
        } else if (req.type === 'get') ws.send(pack({ type: 'reply', rid: req.rid, ok: true, value: counter }));
        else ws.send(pack({ type: 'result', id: req.id, value: req.item * 2 }));
      });
    });
    await new Promise((resolve) => wss.once('listening', resolve));
    process.send({ type: 'listening', port: /** @type {import('node:net').AddressInfo} */ (wss.address()).port, pid: process.pid });
    process.on('disconnect', () => process.exit(0));
  });
} else if (role === 'subscriber') {
  void childMain(async (p) => {
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.on('message', (data) => {
      const now = nowUs();
      const m = unpack(/** @type {Buffer} */ (data));
      if (m.type === 'push') process.send?.({ type: 'ack', seq: m.value.seq, lat: now - m.value.t0 });
      else if (m.type === 'reply') process.send?.({ type: 'ready' });
    });
    ws.send(pack({ type: 'subscribe', rid: 0 }));
    await fromParent('stop');
    ws.close();
    process.exit(0);
  });
} else if (role === 'app') {
  void childMain(async (p) => {
    const { ws, call } = await open(p.port);
    for (let i = 0; i < p.warmup; i++) await call({ type: 'add', rid: i, delta: 0 });
    process.send({ type: 'ready' });
    await fromParent('go');
    const t0 = nowMs();
    const cpu0 = selfCpuUs();
    for (let i = 0; i < p.ops; i++) await call({ type: 'add', rid: i, delta: 1 });
    process.send({ type: 'done', ms: nowMs() - t0, cpuUs: selfCpuUs() - cpu0 });
    ws.close();
    process.exit(0);
  });
} else {
  void runMain(async (p) => (p.scenario === 'counter' ? counter(p) : p.scenario === 'notify' ? notify(p) : latency(p)));
}

/**
 * One append per event-loop turn of the turn's writes, their replies sent after it: what a
 * daemon must do at least for an acknowledged write to survive kill -9 (the file is fsynced
 * once a second, as corepool's --fsync everysec syncs its store).
 */
function openJournal() {
  const dir = mkdtempSync(join(tmpdir(), 'corepool-bench-journal-'));
  const fd = openSync(join(dir, 'journal'), 'a');
  // Unlinked at once: the appends cost the same, and a killed server leaves nothing behind.
  rmSync(dir, { recursive: true, force: true });
  /** @type {{ record: unknown, send: () => void }[]} */
  let turn = [];
  const flush = () => {
    const writes = turn;
    turn = [];
    writeSync(fd, pack(writes.map((w) => w.record)));
    for (const w of writes) w.send();
  };
  const sync = setInterval(() => fsync(fd, () => {}), 1000);
  process.on('exit', () => {
    clearInterval(sync);
    closeSync(fd);
  });
  return {
    /** Appends `record` with the turn's other writes, then calls `send` (the replies wait for the append). */
    write(record, send) {
      if (turn.push({ record, send }) === 1) setImmediate(flush);
    },
  };
}

async function counter(p) {
  const server = forkChild(self, { role: 'server', journal: p.journal === true });
  const apps = [];
  try {
    const { port, pid } = await server.expect('listening', 10_000);
    for (let i = 0; i < p.procs; i++) apps.push(forkChild(self, { role: 'app', port, ops: p.ops, warmup: p.warmup }));
    await Promise.all(apps.map((a) => a.expect('ready', 60_000)));
    const t0 = nowMs();
    const server0 = procCpuUs(pid);
    for (const a of apps) a.send({ type: 'go' });
    const done = await Promise.all(apps.map((a) => a.expect('done', 300_000)));
    const wall = nowMs() - t0;
    const serverUs = procCpuUs(pid) - server0;
    const { ws, call } = await open(port);
    const final = (await call({ type: 'get', rid: 0 })).value;
    ws.close();
    const want = p.procs * p.ops;
    const base = {
      scenario: p.scenario,
      system: p.system,
      final,
      check: check(final === want, `final ${final}, want ${want}`),
      note: p.journal
        ? `${p.procs} processes x ${p.ops.toLocaleString('en')} awaited add over a bare ws + msgpack server, counter in memory, each turn's writes and replies appended to a file (one write, fsync once a second) before the replies: the floor of a ws daemon whose acknowledged writes survive kill -9`
        : `${p.procs} processes x ${p.ops.toLocaleString('en')} awaited add over a bare ws + msgpack server, counter in memory (no store): the ceiling of any ws daemon here`,
    };
    return [
      { ...base, metric: 'ops_per_s', value: want / (wall / 1e3), unit: 'ops/s' },
      ...cpuRows(base, { clientUs: done.reduce((s, d) => s + d.cpuUs, 0), serverUs, ops: want }),
    ];
  } finally {
    for (const a of apps) a.kill();
    server.kill();
  }
}

async function notify(p) {
  const server = forkChild(self, { role: 'server', journal: p.journal === true });
  let sub;
  try {
    const { port } = await server.expect('listening', 10_000);
    sub = forkChild(self, { role: 'subscriber', port });
    await sub.expect('ready', 10_000);
    const { ws, call } = await open(port);
    let bad = 0;
    const lat = await timeSteps(p.warmup, p.count, async (i) => {
      const t0 = nowUs();
      const [, ack] = await Promise.all([call({ type: 'set', rid: i, value: { seq: i, t0 } }), sub.expect('ack', 10_000)]);
      if (ack.seq !== i) bad++;
      return ack.lat;
    });
    ws.close();
    sub.send({ type: 'stop' });
    return percentileRows(
      p,
      lat,
      check(bad === 0, `${bad} notifications out of order`),
      `${p.count} updates one at a time: set over ws -> a bare ws + msgpack server${p.journal ? ' (each turn appended to a file before the reply and the push)' : ''} -> pushed to a subscriber in another process; clock: hrtime (CLOCK_MONOTONIC)`,
    );
  } finally {
    sub?.kill();
    server.kill();
  }
}

async function latency(p) {
  const note = `${p.count} sequential round trips, ${pack({ type: 'submit', id: 1000, item: 1000 }).length}-byte msgpack requests, server in its own process`;
  return timeWsSubmits(self, p, note);
}
