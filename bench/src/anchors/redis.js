// redis.js - Redis anchors through ioredis on the local Redis
// (REDIS_URL, default redis://127.0.0.1:6379):
//   counter    N app processes, each awaiting one INCR at a time
//   pipelined  one client, 10,000 INCR in one pipeline
//   inflight   one client, 100,000 INCR at once (Promise.all), with CPU per op
//   notify     INCR + PUBLISH here -> a subscriber in another process; the
//              latency runs from before the INCR to the subscriber's 'message'
//              event, on CLOCK_MONOTONIC (process.hrtime), which every process
//              on the machine shares.
//   floodNeighbour  awaited INCRs here beside a flooder pipelining frames of
//              1,000 INCRs over a plain socket (lib/flood-neighbour.js).
// Keys are namespaced by pid and deleted afterwards.

import { createConnection } from 'node:net';
import { childMain, forkChild, fromParent } from '../lib/children.js';
import { flood, floodNeighbour, loopFor } from '../lib/flood-neighbour.js';
import { cpuRows, procCpuUs, selfCpuUs } from '../lib/cpu.js';
import { check, nowMs, nowUs, percentile, readParams, runMain, timeSteps } from '../lib/harness.js';
import { REDIS_URL, connectRedis } from '../lib/redis.js';

const self = new URL(import.meta.url).pathname;

const children = {
  /** One counter app: warm up, wait for go, INCR `ops` times one at a time. */
  async counter(p) {
    const redis = await connectRedis();
    for (let i = 0; i < p.warmup; i++) await redis.incr(p.key);
    process.send({ type: 'ready' });
    await fromParent('go');
    const t0 = nowMs();
    const cpu0 = selfCpuUs();
    for (let i = 0; i < p.ops; i++) await redis.incr(p.key);
    process.send({ type: 'done', ms: nowMs() - t0, cpuUs: selfCpuUs() - cpu0 });
    redis.disconnect();
    process.exit(0);
  },

  /** The flooder of floodNeighbour: RESP written by hand, one reply line per INCR counted, nothing parsed. */
  async flooder(p) {
    const url = new URL(p.url);
    const sock = createConnection({ host: url.hostname, port: Number(url.port || 6379) });
    sock.setNoDelay(true);
    const frame = Buffer.from(`*2\r\n$4\r\nINCR\r\n$${Buffer.byteLength(p.key)}\r\n${p.key}\r\n`.repeat(1000));
    await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const replies = flood({}, () => sock.write(frame));
    sock.on('data', (data) => {
      let n = 0;
      for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) n++;
      replies(n);
    });
    await new Promise((_, reject) => sock.on('close', () => reject(new Error("the flooder's socket closed"))));
  },

  /** The subscriber: acknowledges each message with its update->notify latency. */
  async subscriber(p) {
    const redis = await connectRedis();
    redis.on('message', (_channel, message) => {
      const now = nowUs();
      const [seq, t0, value] = message.split(':').map(Number);
      process.send({ type: 'ack', seq, lat: now - t0, value });
    });
    await redis.subscribe(p.channel);
    process.send({ type: 'ready' });
    await fromParent('stop');
    redis.disconnect();
    process.exit(0);
  },
};

const scenarios = {
  async floodNeighbour(p) {
    const key = `corepool-bench:${process.pid}:neighbour`;
    const floodKey = `corepool-bench:${process.pid}:flood`;
    const redis = await connectRedis();
    try {
      return await floodNeighbour(p, (ms) => loopFor(ms, () => redis.incr(key)), self, { url: REDIS_URL, key: floodKey });
    } finally {
      await redis.del(key, floodKey);
      redis.disconnect();
    }
  },

  async counter(p) {
    const key = `corepool-bench:${process.pid}:counter`;
    const redis = await connectRedis();
    await redis.del(key);
    const kids = Array.from({ length: p.procs }, () => forkChild(self, { role: 'counter', key, ops: p.ops, warmup: p.warmup }));
    try {
      await Promise.all(kids.map((k) => k.expect('ready')));
      const warm = Number(await redis.get(key));
      await redis.set(key, 0);
      const serverPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
      const t0 = nowMs();
      const server0 = procCpuUs(serverPid);
      for (const k of kids) k.send({ type: 'go' });
      const done = await Promise.all(kids.map((k) => k.expect('done', 120_000)));
      const wall = nowMs() - t0;
      const serverUs = procCpuUs(serverPid) - server0;
      const final = Number(await redis.get(key));
      const want = p.procs * p.ops;
      const base = {
        check: check(final === want && warm === p.procs * p.warmup, `final ${final}, want ${want}`),
        final,
        note: `${p.procs} processes x ${p.ops.toLocaleString('en')} awaited INCR (ioredis)${p.note ? `; ${p.note}` : ''}`,
      };
      return [
        { ...base, metric: 'ops_per_s', value: want / (wall / 1e3), unit: 'ops/s' },
        { ...base, metric: 'final_value', value: final, unit: 'count' },
        ...cpuRows(base, { clientUs: done.reduce((s, d) => s + d.cpuUs, 0), serverUs, ops: want }),
      ];
    } finally {
      for (const k of kids) k.kill();
      await redis.del(key);
      redis.disconnect();
    }
  },

  async inflight(p) {
    const key = `corepool-bench:${process.pid}:inflight`;
    const redis = await connectRedis();
    try {
      await Promise.all(Array.from({ length: p.warmup }, () => redis.incr(key)));
      await redis.set(key, 0);
      const serverPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
      const server0 = procCpuUs(serverPid);
      const cpu0 = selfCpuUs();
      const t0 = nowMs();
      const out = await Promise.all(Array.from({ length: p.ops }, () => redis.incr(key)));
      const wall = nowMs() - t0;
      const clientUs = selfCpuUs() - cpu0;
      const serverUs = procCpuUs(serverPid) - server0;
      const final = Number(await redis.get(key));
      const inOrder = out.every((v, i) => v === i + 1);
      const base = {
        check: check(final === p.ops && inOrder, `final ${final}, replies in order: ${inOrder}`),
        final,
        note: `${p.ops.toLocaleString('en')} INCR in flight from one ioredis client (Promise.all)${p.note ? `; ${p.note}` : ''}`,
      };
      return [
        { ...base, metric: 'ops_per_s', value: p.ops / (wall / 1e3), unit: 'ops/s' },
        ...cpuRows(base, { clientUs, serverUs, ops: p.ops }),
      ];
    } finally {
      await redis.del(key);
      redis.disconnect();
    }
  },

  async pipelined(p) {
    const key = `corepool-bench:${process.pid}:pipelined`;
    const redis = await connectRedis();
    try {
      const run = async (n) => {
        const pipe = redis.pipeline();
        for (let i = 0; i < n; i++) pipe.incr(key);
        return pipe.exec();
      };
      await run(p.warmup);
      await redis.set(key, 0);
      const t0 = nowMs();
      const out = await run(p.ops);
      const wall = nowMs() - t0;
      const final = Number(await redis.get(key));
      const inOrder = out.every(([err, v], i) => err === null && v === i + 1);
      const base = {
        check: check(final === p.ops && inOrder, `final ${final}, replies in order: ${inOrder}`),
        final,
        note: `${p.ops.toLocaleString('en')} INCR in one ioredis pipeline()`,
      };
      return [{ ...base, metric: 'ops_per_s', value: p.ops / (wall / 1e3), unit: 'ops/s' }];
    } finally {
      await redis.del(key);
      redis.disconnect();
    }
  },

  async notify(p) {
    const key = `corepool-bench:${process.pid}:notify`;
    const channel = `corepool-bench:${process.pid}:notify`;
    const redis = await connectRedis();
    const sub = forkChild(self, { role: 'subscriber', channel });
    try {
      await sub.expect('ready');
      let bad = 0;
      const lat = await timeSteps(p.warmup, p.count, async (i) => {
        const t0 = nowUs();
        const value = await redis.incr(key);
        await redis.publish(channel, `${i}:${t0}:${value}`);
        const ack = await sub.expect('ack', 10_000);
        if (ack.seq !== i || ack.value !== value) bad++;
        return ack.lat;
      });
      sub.send({ type: 'stop' });
      const base = {
        check: check(bad === 0, `${bad} notifications out of order or wrong`),
        note: `${p.count} updates one at a time: INCR then PUBLISH, subscriber in another process; clock: hrtime (CLOCK_MONOTONIC)`,
      };
      return [
        { ...base, metric: 'p50_us', value: percentile(lat, 50), unit: 'us' },
        { ...base, metric: 'p99_us', value: percentile(lat, 99), unit: 'us' },
      ];
    } finally {
      sub.kill();
      await redis.del(key);
      redis.disconnect();
    }
  },
};

const params = readParams();
if (params.role) {
  void childMain(children[params.role]);
} else {
  void runMain(async (p) => {
    const body = scenarios[p.scenario];
    if (!body) throw new Error(`redis has no scenario '${p.scenario}'`);
    const rows = await body(p);
    return rows.map((r) => ({ scenario: p.scenario, system: p.system, ...r }));
  });
}
