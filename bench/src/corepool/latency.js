// latency.js - corepool on `latency`: client.submit(x => x * 2, i), one at a
// time, each round trip timed (ws hop to the primary + IPC hop to a worker).

import { check, nowUs, percentileRows, runMain } from '../lib/harness.js';
import { double } from '../lib/tasks.js';
import { withCorepool } from './daemon.js';

void runMain((p) =>
  withCorepool({ workers: p.workers, cluster: p.cluster }, async ({ client }) => {
    for (let i = 0; i < p.warmup; i++) await client.submit(double, i);
    const lat = new Float64Array(p.count);
    let bad = 0;
    for (let i = 0; i < p.count; i++) {
      const t0 = nowUs();
      const r = await client.submit(double, i);
      lat[i] = nowUs() - t0;
      if (r !== 2 * i) bad++;
    }
    const ok = check(bad === 0, `${bad} wrong results`);
    const note = `${p.count} sequential client.submit, ${p.workers} workers`;
    return percentileRows(p, lat, ok, note);
  }),
);
