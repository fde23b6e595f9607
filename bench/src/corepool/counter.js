// counter.js - corepool on `counter`: N app processes, each its own client,
// each awaiting value('bench-hits').add(1) one at a time. The final value is
// read back with get() and must be procs * ops. In cluster mode (the
// corepool-cluster system) the state lives in Redis: redis_cpu_us adds the
// Redis server's CPU per op (on this machine only: it reads /proc).
// With `op: 'get'` (the corepool-get system) the apps await get() instead,
// each read checked: the same path without a write to commit, so the row
// beside corepool's shows what the commit of an add costs.

import { childMain, forkChild, fromParent } from '../lib/children.js';
import { cpuRows, procCpuUs, selfCpuUs } from '../lib/cpu.js';
import { check, nowMs, readParams, runMain } from '../lib/harness.js';
import { connectRedis } from '../lib/redis.js';
import { connectTo, withCorepool } from './daemon.js';

const self = new URL(import.meta.url).pathname;
const NAME = 'bench-hits';
/** What the corepool-get apps read, every time. */
const READ_VALUE = 12_345;

const params = readParams();
if (params.role === 'app') {
  void childMain(async (p) => {
    const client = await connectTo(p.daemon);
    const hits = client.value(NAME, { initial: 0 });
    const reads = p.op === 'get';
    const op = reads ? () => hits.get() : () => hits.add(1);
    for (let i = 0; i < p.warmup; i++) await op();
    process.send({ type: 'ready' });
    await fromParent('go');
    const t0 = nowMs();
    const cpu0 = selfCpuUs();
    let wrong = 0;
    for (let i = 0; i < p.ops; i++) {
      const v = await op();
      if (reads && v !== READ_VALUE) wrong++;
    }
    process.send({ type: 'done', ms: nowMs() - t0, cpuUs: selfCpuUs() - cpu0, wrong });
    await client.close();
    process.exit(0);
  });
} else {
  void runMain((p) =>
    withCorepool({ workers: p.workers, cluster: p.cluster }, async ({ daemon, client }) => {
      const reads = p.op === 'get';
      const hits = client.value(NAME, { initial: 0 });
      await hits.set(reads ? READ_VALUE : 0);
      const ref = { url: daemon.url, token: daemon.token };
      const apps = Array.from({ length: p.procs }, () =>
        forkChild(self, { role: 'app', daemon: ref, ops: p.ops, warmup: p.warmup, op: p.op }),
      );
      try {
        await Promise.all(apps.map((a) => a.expect('ready', 60_000)));
        const warm = await hits.get();
        if (!reads) await hits.set(0);
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
        const wrong = done.reduce((s, d) => s + d.wrong, 0);
        const ok = reads
          ? check(final === READ_VALUE && warm === READ_VALUE && wrong === 0, `${wrong} reads differ; final ${final}, want ${READ_VALUE}`)
          : check(
              final === want && warm === p.procs * p.warmup,
              `final ${final}, want ${want} (after warm-up: ${warm}, want ${p.procs * p.warmup})`,
            );
        const base = {
          scenario: p.scenario,
          system: p.system,
          final,
          check: ok,
          note: `${p.procs} processes x ${p.ops.toLocaleString('en')} awaited value.${reads ? 'get()' : 'add(1)'}${p.note ? `; ${p.note}` : ''}`,
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
