// memory.js - corepool on `memory`: RSS of the daemon's primary and of its
// workers (summed), from `ps -o rss=` on the daemon pid and its descendants:
//   rest     started, nothing connected, after a 1 s settle
//   idle     with 1,000 idle connected clients, opened from separate child
//            processes (500 each), the max of 5 samples over 1 s
//   stream   while one client maps x * 2 over a 1,000,000-item generator,
//            sampled every 50 ms, the max

import { childMain, forkChild, fromParent } from '../lib/children.js';
import { check, readParams, runMain, sleep } from '../lib/harness.js';
import { double, doubledSum } from '../lib/tasks.js';
import { connectTo, daemonRss, loadClient, startDaemon } from './daemon.js';

const self = new URL(import.meta.url).pathname;

const params = readParams();
if (params.role === 'idle-clients') {
  void childMain(async (p) => {
    const clients = [];
    for (let i = 0; i < p.count; i += 50) {
      const batch = Math.min(50, p.count - i);
      clients.push(...(await Promise.all(Array.from({ length: batch }, () => connectTo(p.daemon)))));
    }
    process.send({ type: 'ready', count: clients.length });
    await fromParent('stop');
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    process.send({ type: 'closed' });
    process.exit(0);
  });
} else {
  void runMain(async (p) => {
    await loadClient();
    const daemon = await startDaemon({ workers: p.workers });
    /** @type {import('@corepool/client').Client | undefined} */
    let client;
    try {
      return await measure(p, daemon, async () => (client = await connectTo(daemon)));
    } finally {
      if (client) await client.close().catch(() => {});
      await daemon.stop();
    }
  });
}

async function measure(p, daemon, openClient) {
  const rows = [];
  const row = (metric, value, extra = {}) =>
    rows.push({ scenario: p.scenario, system: p.system, metric, value, unit: 'MB', check: 'ok', ...extra });

  await sleep(1000);
  const rest = daemonRss(daemon.pid);
  row('rss_mb_rest_primary', rest.primary, { note: 'started, nothing connected, 1 s settle' });
  row('rss_mb_rest_workers', rest.workers, { note: `sum over ${rest.workerCount} worker processes` });

  const perChild = Math.ceil(p.idleClients / p.idleProcs);
  const ref = { url: daemon.url, token: daemon.token };
  const kids = Array.from({ length: p.idleProcs }, () => forkChild(self, { role: 'idle-clients', daemon: ref, count: perChild }));
  try {
    const opened = (await Promise.all(kids.map((k) => k.expect('ready', 120_000)))).reduce((a, m) => a + m.count, 0);
    await sleep(1000);
    let idle = { primary: 0, workers: 0 };
    for (let i = 0; i < 5; i++) {
      const s = daemonRss(daemon.pid);
      idle = { primary: Math.max(idle.primary, s.primary), workers: Math.max(idle.workers, s.workers) };
      await sleep(200);
    }
    const ok = check(opened === perChild * p.idleProcs, `${opened} clients opened`);
    row('rss_mb_idle_primary', idle.primary, { check: ok, note: `${opened} idle clients from ${p.idleProcs} processes` });
    row('rss_mb_idle_workers', idle.workers, { check: ok, note: `${opened} idle clients` });
    for (const k of kids) k.send({ type: 'stop' });
    await Promise.all(kids.map((k) => k.exited(30_000)));
  } finally {
    for (const k of kids) k.kill();
  }

  const client = await openClient();
  let peak = { primary: 0, workers: 0 };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = daemonRss(daemon.pid);
      peak = { primary: Math.max(peak.primary, s.primary), workers: Math.max(peak.workers, s.workers) };
      await sleep(50);
    }
  })();
  const count = p.streamItems;
  function* items() {
    for (let i = 0; i < count; i++) yield i;
  }
  let out;
  try {
    out = await client.map(double, items());
  } finally {
    sampling = false;
    await sampler;
  }
  let sum = 0;
  for (const v of out) sum += v;
  const ok = check(out.length === count && sum === doubledSum(count), `${out.length} results, sum ${sum}`);
  const note = `max while mapping a ${count.toLocaleString('en')}-item generator, sampled every 50 ms`;
  row('rss_mb_stream_primary', peak.primary, { check: ok, note });
  row('rss_mb_stream_workers', peak.workers, { check: ok, note });
  return rows;
}
