// longitems.js - corepool on `longitems`: one app keeps every worker busy with
// items of `itemMs` of busy work (`hogLoops` submits in flight, each sent again
// as it returns); a second app, connected beside it, submits one 1 ms item at a
// time, `probes` times, `gapMs` apart on average. Each submit's wait (send to result) is what an app waits
// at a shared daemon whose workers another app holds with long items: a running
// item is never preempted, so without a reserve worker it waits one out (p50
// about half an item, at worst a whole one); with one (the default) it runs on
// the reserve once the items it waits behind have held their workers 20 ms.
// `reserve: false` runs the same with --reserve-workers 0.

import { check, nowMs, percentile, runMain, sleep } from '../lib/harness.js';
import { busy1ms } from '../lib/tasks.js';
import { connectTo, withCorepool } from './daemon.js';

/** A long item: `ms` of busy work. Self-contained (sent as source). */
function spin(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* busy */
  }
  return ms;
}

void runMain((p) =>
  withCorepool({ workers: p.workers, extraArgs: p.reserve === false ? ['--reserve-workers', '0'] : [] }, async ({ daemon, client }) => {
    const other = await connectTo(daemon);
    try {
      await other.submit(busy1ms, -1); // warm-up: its function is known to the workers
      let stop = false;
      let hogDone = 0;
      const hog = Array.from({ length: p.hogLoops }, async () => {
        while (!stop) if ((await client.submit(spin, p.itemMs)) === p.itemMs) hogDone++;
      });
      // Every worker busy with a long item before the first probe.
      await new Promise((r) => setTimeout(r, 2 * p.itemMs));
      const waits = [];
      let bad = 0;
      const t0 = nowMs();
      for (let k = 0; k < p.probes; k++) {
        // Spread over a few of the long items, so that the long items' rate is read over more than one of them.
        await sleep(p.gapMs * (0.5 + Math.random()));
        const t = nowMs();
        if ((await other.submit(busy1ms, k)) !== k) bad++;
        waits.push(nowMs() - t);
      }
      const probeMs = nowMs() - t0;
      const hogBefore = hogDone;
      stop = true;
      await Promise.all(hog);
      const ok = check(bad === 0 && hogBefore > 0, 'wrong results, or the long items never ran');
      const note =
        `${p.probes} submits of one 1 ms item beside ${p.hogLoops} loops of ${p.itemMs} ms items, ${p.workers} workers` +
        `${p.reserve === false ? ', --reserve-workers 0' : ''}; the long items' app ran ${((hogBefore / probeMs) * 1000).toFixed(1)} a second meanwhile`;
      const row = (metric, value, unit = 'ms') => ({ scenario: p.scenario, system: p.system, metric, value, unit, check: ok, note });
      return [
        row('wait_p50_ms', percentile(waits, 50)),
        row('wait_p99_ms', percentile(waits, 99)),
        row('hog_items_per_s', (hogBefore / probeMs) * 1000, 'items/s'),
      ];
    } finally {
      await other.close().catch(() => {});
    }
  }),
);
