// counter.js - corepool on `counter`: N app processes, each its own client,
// each awaiting value('bench-hits').add(1) one at a time. The final value is
// read back with get() and must be procs * ops. In cluster mode (the
// corepool-cluster system) the state lives in Redis: redis_cpu_us adds the
// Redis server's CPU per op (on this machine only: it reads /proc).

import { childMain, forkChild, fromParent } from '../lib/children.js';
import { cpuRows, procCpuUs, selfCpuUs } from '../lib/cpu.js';
import { check, nowMs, readParams, runMain } from '../lib/harness.js';
import { connectRedis } from '../lib/redis.js';
import { connectTo, withCorepool } from './daemon.js';

const self = new URL(import.meta.url).pathname;
const NAME = 'bench-hits';

const params = readParams();
if (params.role === 'app') {
  void childMain(async (p) => {
    const client = await connectTo(p.daemon);
    const hits = client.value(NAME, { initial: 0 });
    for (let i = 0; i < p.warmup; i++) await hits.add(1);
    process.send({ type: 'ready' });
    await fromParent('go');
    const t0 = nowMs();
    const cpu0 = selfCpuUs();
    for (let i = 0; i < p.ops; i++) await hits.add(1);
    process.send({ type: 'done', ms: nowMs() - t0, cpuUs: selfCpuUs() - cpu0 });
    await client.close();
    process.exit(0);
  });
} else {
  void runMain((p) =>
    withCorepool({ workers: p.workers, cluster: p.cluster }, async ({ daemon, client }) => {
      const hits = client.value(NAME, { initial: 0 });
      await hits.set(0);
      const ref = { url: daemon.url, token: daemon.token };
      const apps = Array.from({ length: p.procs }, () => forkChild(self, { role: 'app', daemon: ref, ops: p.ops, warmup: p.warmup }));
      try {
        await Promise.all(apps.map((a) => a.expect('ready', 60_000)));
        const warm = await hits.get();
        await hits.set(0);
        const t0 = nowMs();
        const redisPid = p.cluster ? await redisServerPid() : null;
        const redis0 = redisPid ? procCpuUs(redisPid) : NaN;
        const server0 = procCpuUs(daemon.pid);
        for (const a of apps) a.send({ type: 'go' });
        const done = await Promise.all(apps.map((a) => a.expect('done', 300_000)));
        const wall = nowMs() - t0;
        const serverUs = procCpuUs(daemon.pid) - server0;
        const redisUs = redisPid ? procCpuUs(redisPid) - redis0 : NaN;
        const final = await hits.get();
        const want = p.procs * p.ops;
        const base = {
          scenario: p.scenario,
          system: p.system,
          final,
          check: check(
            final === want && warm === p.procs * p.warmup,
            `final ${final}, want ${want} (after warm-up: ${warm}, want ${p.procs * p.warmup})`,
          ),
          note: `${p.procs} processes x ${p.ops.toLocaleString('en')} awaited value.add(1)${p.note ? `; ${p.note}` : ''}`,
        };
        return [
          { ...base, metric: 'ops_per_s', value: want / (wall / 1e3), unit: 'ops/s' },
          { ...base, metric: 'final_value', value: final, unit: 'count' },
          ...cpuRows(base, { clientUs: done.reduce((s, d) => s + d.cpuUs, 0), serverUs, ops: want }),
          ...(Number.isFinite(redisUs) ? [{ ...base, metric: 'redis_cpu_us', value: redisUs / want, unit: 'us/op' }] : []),
        ];
      } finally {
        for (const a of apps) a.kill();
      }
    }),
  );
}

/** The pid of the Redis server at REDIS_URL (INFO server), to read its CPU time. */
async function redisServerPid() {
  const redis = await connectRedis();
  try {
    return Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]) || null;
  } finally {
    redis.disconnect();
  }
}
