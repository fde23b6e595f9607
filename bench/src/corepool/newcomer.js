// newcomer.js - corepool on `newcomer`: one app maps 10,000 x 1 ms items alone
// (its chunks sized for a lone batch); a second app, connected beside it,
// submits one 1 ms item at a time, `probes` times, spread over the map. Each
// submit's wait (send to result) is what an app arriving at a busy shared
// daemon waits for a worker: the item it runs (~1 ms), plus the chunk it would
// wait behind unless that chunk is cut short.

import { check, nowMs, percentile, runMain, sleep } from '../lib/harness.js';
import { busy1ms } from '../lib/tasks.js';
import { connectTo, withCorepool } from './daemon.js';

void runMain((p) =>
  withCorepool({ workers: p.workers }, async ({ daemon, client }) => {
    const other = await connectTo(daemon);
    try {
      const items = Array.from({ length: p.tasks }, (_, i) => i);
      await client.map(busy1ms, items); // warm-up: the lone batch's chunks are sized from its measured items
      await other.submit(busy1ms, -1);
      let mapDone = false;
      const map = client.map(busy1ms, items).then((out) => {
        mapDone = true;
        return out;
      });
      const waits = [];
      let bad = 0;
      // Spread over the first ~80% of the map, so that every probe finds it running.
      const gap = (0.8 * p.tasks) / p.workers / p.probes;
      for (let k = 0; k < p.probes; k++) {
        await sleep(gap * (0.5 + Math.random()));
        if (mapDone) break;
        const t0 = nowMs();
        if ((await other.submit(busy1ms, k)) !== k) bad++;
        waits.push(nowMs() - t0);
      }
      const out = await map;
      const ok = check(
        bad === 0 && out.every((v, i) => v === i) && waits.length >= p.probes / 2,
        'wrong results, or the map ended before the probes',
      );
      const note = `${waits.length} submits of one 1 ms item beside a lone ${p.tasks.toLocaleString('en')} x 1 ms map, ${p.workers} workers`;
      const row = (metric, value) => ({ scenario: p.scenario, system: p.system, metric, value, unit: 'ms', check: ok, note });
      return [row('wait_p50_ms', percentile(waits, 50)), row('wait_max_ms', Math.max(...waits))];
    } finally {
      await other.close().catch(() => {});
    }
  }),
);
