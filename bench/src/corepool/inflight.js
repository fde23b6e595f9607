// inflight.js - corepool on `inflight`: one client, N value.add(1) in flight
// at once (Promise.all, no pipeline object: what an app writes when it fires
// many operations), with the client's and the daemon's CPU per operation.
// Each add resolves to the new value, so the replies must be exactly 1..N in
// some order, and get() must read N.

import { cpuRows, procCpuUs, selfCpuUs } from '../lib/cpu.js';
import { check, nowMs, runMain } from '../lib/harness.js';
import { withCorepool } from './daemon.js';

void runMain((p) =>
  withCorepool({ workers: p.workers, cluster: p.cluster }, async ({ daemon, client }) => {
    const hits = client.value('bench-inflight', { initial: 0 });
    await Promise.all(Array.from({ length: p.warmup }, () => hits.add(1)));
    await hits.set(0);
    const server0 = procCpuUs(daemon.pid);
    const cpu0 = selfCpuUs();
    const t0 = nowMs();
    const out = await Promise.all(Array.from({ length: p.ops }, () => hits.add(1)));
    const wall = nowMs() - t0;
    const clientUs = selfCpuUs() - cpu0;
    const serverUs = procCpuUs(daemon.pid) - server0;
    const final = await hits.get();
    const seen = new Uint8Array(p.ops + 1);
    for (const v of out) if (Number.isInteger(v) && v >= 1 && v <= p.ops) seen[v] = 1;
    const distinct = seen.reduce((a, b) => a + b, 0);
    const base = {
      scenario: p.scenario,
      system: p.system,
      final,
      check: check(final === p.ops && distinct === p.ops, `final ${final}, ${distinct} distinct replies in 1..${p.ops}`),
      note: `${p.ops.toLocaleString('en')} value.add(1) in flight from one client (Promise.all)${p.note ? `; ${p.note}` : ''}`,
    };
    return [
      { ...base, metric: 'ops_per_s', value: p.ops / (wall / 1e3), unit: 'ops/s' },
      ...cpuRows(base, { clientUs, serverUs, ops: p.ops }),
    ];
  }),
);
