// memory.js - corepool on `memory`: RSS of the daemon's primary and of its
// workers (summed), from `ps -o rss=` on the daemon pid and its descendants:
//   rest     started, nothing connected, after a 1 s settle
//   idle     with 1,000 idle connected clients, opened from separate child
//            processes (500 each), the max of 5 samples over 1 s
//   stream   while one client maps x * 2 over a 1,000,000-item generator,
//            sampled every 50 ms, the max
// and what one idle client costs the primary: kb_per_idle_client, the RSS
// with the idle clients less the RSS at rest, over the clients, each read
// after a low-memory GC through the primary's inspector (started on SIGUSR1
// after the rest reading; see lib/inspector.js), the least of 3 readings.
// Unsettled, the same difference swings between 15 and 26 KB with whatever
// young generation the connection burst left. It is an upper bound: it also
// holds the code V8 compiled for the first connections (~1 KB a client at
// 1,000). kb_heap_per_idle_client is the V8 heap part of it.

import { childMain, forkChild, fromParent } from '../lib/children.js';
import { check, readParams, runMain, sleep } from '../lib/harness.js';
import { double, doubledSum } from '../lib/tasks.js';
import { activateInspector, openInspector } from '../lib/inspector.js';
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
    // --inspect-port alone starts no inspector: it sets where SIGUSR1 opens one (port 0: any free port).
    const daemon = await startDaemon({ workers: p.workers, nodeArgs: ['--inspect-port=127.0.0.1:0'] });
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
  const inspector = await openInspector(await activateInspector(daemon.pid, (l) => daemon.onStderr(l)), daemon.pid);
  const restSettled = await settled(inspector);

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
    const idleSettled = await settled(inspector);
    inspector.close();
    const mb = (kb) => (kb / 1024).toFixed(1);
    row('kb_per_idle_client', (idleSettled.rssKb - restSettled.rssKb) / opened, {
      unit: 'KB',
      check: ok,
      note: `primary RSS after a low-memory GC: ${mb(restSettled.rssKb)} MB at rest, ${mb(idleSettled.rssKb)} MB with ${opened} idle clients`,
    });
    row('kb_heap_per_idle_client', (idleSettled.heapKb - restSettled.heapKb) / opened, {
      unit: 'KB',
      check: ok,
      note: `V8 heap in use after a low-memory GC: ${mb(restSettled.heapKb)} MB at rest, ${mb(idleSettled.heapKb)} MB with ${opened} idle clients`,
    });
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

/** The least of 3 readings, each after a low-memory GC (the inspector's), 200 ms apart. */
async function settled(inspector) {
  let least = { rssKb: Infinity, heapKb: Infinity };
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(200);
    const r = await inspector.settled();
    least = { rssKb: Math.min(least.rssKb, r.rssKb), heapKb: Math.min(least.heapKb, r.heapKb) };
  }
  return least;
}
