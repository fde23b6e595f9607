// notify.js - corepool on `notify`: this process set()s a Value, a subscriber
// client in another process (value.subscribe) acknowledges each change. The
// latency runs from before set() to the subscriber's callback, on
// CLOCK_MONOTONIC (process.hrtime), which every process on the machine shares;
// the send time travels inside the value. One update at a time (the next
// waits for the ack), so nothing is coalesced.

import { childMain, forkChild, fromParent } from '../lib/children.js';
import { check, nowUs, percentileRows, readParams, runMain, sleep, timeSteps } from '../lib/harness.js';
import { connectTo, withCorepool } from './daemon.js';

const self = new URL(import.meta.url).pathname;
const NAME = 'bench-notify';

const params = readParams();
if (params.role === 'subscriber') {
  void childMain(async (p) => {
    const client = await connectTo(p.daemon);
    const v = client.value(NAME, { initial: { seq: -1, t0: 0 } });
    let last = -Infinity;
    const stop = v.subscribe((val) => {
      const now = nowUs();
      if (!val || typeof val.seq !== 'number') return;
      if (val.seq < 0) {
        process.send({ type: 'probe', seq: val.seq });
        return;
      }
      process.send({ type: 'ack', seq: val.seq, lat: now - val.t0, outOfOrder: val.seq < last });
      last = Math.max(last, val.seq);
    });
    process.send({ type: 'ready' });
    await fromParent('stop');
    stop();
    await client.close();
    process.exit(0);
  });
} else {
  void runMain((p) =>
    withCorepool({ workers: p.workers }, async ({ daemon, client }) => {
      const v = client.value(NAME, { initial: { seq: -1, t0: 0 } });
      await v.set({ seq: -1, t0: 0 });
      const sub = forkChild(self, { role: 'subscriber', daemon: { url: daemon.url, token: daemon.token } });
      try {
        await sub.expect('ready', 30_000);
        // The subscription is live once a probe comes through.
        let live = false;
        for (let k = 2; k < 100 && !live; k++) {
          await v.set({ seq: -k, t0: 0 });
          live = await Promise.race([sub.expect('probe', 1000).then(() => true), sleep(200).then(() => false)]);
        }
        if (!live) throw new Error('subscriber never saw a change');
        let bad = 0;
        const lat = await timeSteps(p.warmup, p.count, async (i) => {
          const t0 = nowUs();
          const [, ack] = await Promise.all([v.set({ seq: i, t0 }), waitAck(sub, i)]);
          if (ack.outOfOrder) bad++;
          return ack.lat;
        });
        sub.send({ type: 'stop' });
        return percentileRows(
          p,
          lat,
          check(bad === 0, `${bad} notifications out of order`),
          `${p.count} updates one at a time: value.set() -> value.subscribe() in another process; clock: hrtime (CLOCK_MONOTONIC)`,
        );
      } finally {
        sub.kill();
      }
    }),
  );
}

/** The subscriber's ack for seq (older acks, if any, are skipped). */
async function waitAck(sub, seq) {
  for (;;) {
    const ack = await sub.expect('ack', 10_000);
    if (ack.seq === seq) return ack;
    if (ack.seq > seq) throw new Error(`ack for ${ack.seq} before ${seq}`);
  }
}
