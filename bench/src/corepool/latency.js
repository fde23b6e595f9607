// latency.js - corepool on `latency`: client.submit(x => x * 2, i), one at a
// time, each round trip timed (ws hop to the primary + IPC hop to a worker).

import { check, nowUs, percentileRows, runMain, timeSteps } from '../lib/harness.js';
import { double } from '../lib/tasks.js';
import { withCorepool } from './daemon.js';

void runMain((p) =>
  withCorepool({ workers: p.workers, cluster: p.cluster }, async ({ client }) => {
    let bad = 0;
    const lat = await timeSteps(p.warmup, p.count, async (i) => {
      const t0 = nowUs();
      const r = await client.submit(double, i);
      const us = nowUs() - t0;
      if (r !== 2 * i) bad++;
      return us;
    });
    const ok = check(bad === 0, `${bad} wrong results`);
    const note = `${p.count} sequential client.submit, ${p.workers} workers`;
    return percentileRows(p, lat, ok, note);
  }),
);
