// neighbours.js - corepool on `neighbours`: a healthy app's batch of 1 ms
// items, timed alone, then beside a second app whose items crash their worker
// (process.exit), run into their timeout (an endless loop, timeoutMs 200) or
// spin (200 ms of busy work each). Both apps share the daemon's workers, so a
// fair share is half the pool: 2x the time alone. Reported per hostile kind as
// `ratio_<kind>` = beside / alone (timed just before). A healthy batch that cannot finish within
// `deadlineS` is stopped there: its ratio is then a lower bound and the check
// fails, naming how many items it had done.

import { check, nowMs, runMain } from '../lib/harness.js';
import { busy1ms } from '../lib/tasks.js';
import { connectTo, withCorepool } from './daemon.js';

/** The hostile apps: their task source and map options. Each keeps the pool busy with faults for as long as it runs. */
const HOSTILE = {
  crash: { fn: () => process.exit(1), options: { retries: 0 } },
  timeout: {
    fn: () => {
      for (;;) {
        /* past its timeout */
      }
    },
    options: { timeoutMs: 200, retries: 0 },
  },
  spin: {
    fn: (x) => {
      const end = performance.now() + 200;
      while (performance.now() < end) {
        /* busy */
      }
      return x;
    },
    options: {},
  },
};

void runMain((p) =>
  withCorepool({ workers: p.workers }, async ({ daemon, client }) => {
    const items = Array.from({ length: p.items }, (_, i) => i);
    const deadlineMs = p.deadlineS * 1000;
    await client.map(busy1ms, items.slice(0, 200)); // warm-up

    /** The healthy batch, timed: { ms, done, ok } (ms up to the deadline if it did not finish). */
    const healthy = async () => {
      let done = 0;
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort(), deadlineMs);
      const t0 = nowMs();
      try {
        const out = await client.map(busy1ms, items, { signal: stop.signal, onProgress: (n) => (done = n) });
        return { ms: nowMs() - t0, done, ok: out.length === p.items && out.every((v, i) => v === i) };
      } catch {
        return { ms: nowMs() - t0, done, ok: false };
      } finally {
        clearTimeout(timer);
      }
    };

    const rows = [];
    for (const kind of p.kinds) {
      const h = HOSTILE[kind];
      // Timed alone just before, so that a shared machine's load hits both figures of a ratio alike.
      const alone = await healthy();
      rows.push({
        scenario: p.scenario,
        system: p.system,
        metric: `alone_before_${kind}_ms`,
        value: alone.ms,
        unit: 'ms',
        check: check(alone.ok, 'the healthy batch failed alone'),
      });
      const hostile = await connectTo(daemon);
      const stop = new AbortController();
      // Far more items than can run while the healthy batch does: the hostile app has work queued throughout.
      const run = hostile
        .mapSettled(
          h.fn,
          Array.from({ length: 100_000 }, (_, i) => i),
          { ...h.options, signal: stop.signal },
        )
        .catch(() => {});
      await new Promise((r) => setTimeout(r, 500)); // the pool is under fire before the healthy batch starts
      const beside = await healthy();
      process.stderr.write(
        `neighbours: beside ${kind}: ${beside.done}/${p.items} in ${Math.round(beside.ms)} ms (alone ${Math.round(alone.ms)} ms)\n`,
      );
      stop.abort();
      await run;
      await hostile.close();
      await new Promise((r) => setTimeout(r, 1000)); // replaced workers are up again before the next kind
      const ok = check(beside.ok, `beside ${kind}: the healthy batch had ${beside.done}/${p.items} done after ${Math.round(beside.ms)} ms`);
      rows.push(
        { scenario: p.scenario, system: p.system, metric: `beside_${kind}_ms`, value: beside.ms, unit: 'ms', check: ok },
        {
          scenario: p.scenario,
          system: p.system,
          metric: `ratio_${kind}`,
          value: beside.ms / alone.ms,
          unit: 'x',
          check: ok,
          note: `${p.items.toLocaleString('en')} x 1 ms beside an app whose items ${kind === 'crash' ? 'call process.exit' : kind === 'timeout' ? 'loop past timeoutMs 200' : 'spin 200 ms each'}; ${p.workers} workers shared by 2 apps (2x is fair)`,
        },
      );
    }
    return rows;
  }),
);
