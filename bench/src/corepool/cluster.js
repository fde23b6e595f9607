// cluster.js - corepool on `cluster`: daemons in cluster mode on one Redis
// (REDIS_URL), each with the same worker count, one client on the first.
//
//   scaling    a map of sleeping items (Atomics.wait, so throughput depends on
//              workers, not on the 2 cores) on 1, then 2, then 3 daemons of one
//              cluster (each joins the last); items/s per daemon count and
//              scaling_N = (items/s on N / items/s on 1) / N. Each item returns
//              process.ppid: a worker's parent is its daemon's primary, so the
//              rows say which daemon ran how many items.
//   redis cost on 2 daemons, a map of a known chunk count (chunkSize set):
//              Redis commands and Redis CPU over the map (INFO commandstats and
//              INFO cpu, server-wide) divided by chunks, and the idle rate of
//              commands (heartbeats) beside it.
//   recovery   on 3 daemons, 1 item per chunk: as soon as the last daemon starts
//              a lent chunk, kill -9 of its primary; recovery_ms runs from the
//              kill to the last of its interrupted items starting on another
//              daemon (from a log each item appends to on start), and
//              recovery_complete_ms to the batch's completion.
//
// Without lending between daemons every item runs on the first daemon: the
// rows say so (items on d2/d3 = 0, scaling ~1/N, recovery unmeasured, its
// check failed) rather than fail the runner. Daemons are stopped, the temp
// dir removed and the cluster's keys deleted also when a step throws.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, nowMs, runMain, sleep } from '../lib/harness.js';
import { connectRedis, redisStats } from '../lib/redis.js';
import { descendants, loadClient, startDaemon, withClusterName } from './daemon.js';

/**
 * Task: sleeps item.ms without using a core, then returns [index, the daemon's pid].
 * @param {{ i: number, ms: number }} item
 */
function sleepThenPpid(item) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, item.ms);
  return [item.i, process.ppid];
}

/**
 * Task: as sleepThenPpid, after appending "<index> <daemon pid> <epoch ms>" to item.log (the start of each run).
 * @param {{ i: number, ms: number, log: string }} item
 */
function loggedSleepThenPpid(item) {
  const fs = process.getBuiltinModule('node:fs');
  fs.appendFileSync(item.log, `${item.i} ${process.ppid} ${Date.now()}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, item.ms);
  return [item.i, process.ppid];
}

/** Waits until the client's daemon lists `n` live daemons in its cluster (status.cluster). */
async function waitForMembers(client, n, timeoutMs = 20_000) {
  const deadline = nowMs() + timeoutMs;
  let seen = 0;
  while (nowMs() < deadline) {
    const s = await client.status();
    if (!s.cluster) throw new Error('daemon 1 is not in cluster mode: its status has no `cluster`');
    seen = (s.cluster?.daemons ?? []).filter((d) => d.alive).length;
    if (seen >= n) return;
    await sleep(100);
  }
  throw new Error(`the cluster showed ${seen} live daemon(s) within ${timeoutMs} ms, want ${n} (status.cluster.daemons)`);
}

/** One map of `count` sleeping items: wall ms, items per daemon pid, and the check of the results. */
async function sleepMap(client, count, ms, opts = {}) {
  const items = Array.from({ length: count }, (_, i) => ({ i, ms }));
  const t0 = nowMs();
  const out = await client.map(sleepThenPpid, items, opts);
  const wall = nowMs() - t0;
  const perPid = new Map();
  let bad = 0;
  out.forEach((r, i) => {
    if (!Array.isArray(r) || r[0] !== i) bad++;
    else perPid.set(r[1], (perPid.get(r[1]) ?? 0) + 1);
  });
  return { wall, perPid, check: check(out.length === count && bad === 0, `${out.length} results, ${bad} out of place`) };
}

/** Items each daemon ran, in daemon order; items that name no daemon of ours are counted apart. */
function byDaemon(perPid, daemons) {
  const counts = daemons.map((d) => perPid.get(d.pid) ?? 0);
  const known = new Set(daemons.map((d) => d.pid));
  let unknown = 0;
  for (const [pid, c] of perPid) if (!known.has(pid)) unknown += c;
  return { counts, unknown };
}

async function scalingStep(p, client, daemons, tp, rows) {
  const n = daemons.length;
  const base = { scenario: p.scenario, system: p.system };
  await waitForMembers(client, n);
  await sleepMap(client, p.workers * n * 4, p.sleepMs); // warm-up: workers compiled, lending under way
  const { wall, perPid, check: ok } = await sleepMap(client, p.items, p.sleepMs);
  const { counts, unknown } = byDaemon(perPid, daemons);
  tp[n] = p.items / (wall / 1e3);
  const where = counts.map((c, k) => `d${k + 1} ${c}`).join(', ');
  const note = `${p.items} items of ${p.sleepMs} ms (Atomics.wait) in one client.map on daemon 1, ${n} daemon(s) x ${p.workers} workers, default chunking; ran on ${where}`;
  const okAll = unknown === 0 ? ok : check(false, `${unknown} items name a pid that is none of the daemons'`);
  rows.push({ ...base, metric: `items_per_s_${n}`, value: tp[n], unit: 'items/s', check: okAll, note });
  counts.forEach((c, k) => rows.push({ ...base, metric: `items_on_d${k + 1}_of_${n}`, value: c, unit: 'items', check: okAll, note }));
  if (n > 1 && tp[1]) {
    rows.push({
      ...base,
      metric: `scaling_${n}`,
      value: tp[n] / tp[1] / n,
      unit: 'x linear',
      check: okAll,
      note: `(items/s on ${n} / items/s on 1) / ${n}, same run; ran on ${where}`,
    });
  }
}

async function redisCost(p, client, daemons, rows) {
  const base = { scenario: p.scenario, system: p.system };
  const redis = await connectRedis();
  try {
    const chunks = Math.ceil(p.costItems / p.costChunkSize);
    // The idle rate first (heartbeats, membership), over about as long as the map takes.
    const idleMs = Math.max(1000, Math.min(5000, (p.costItems * p.sleepMs) / (p.workers * daemons.length)));
    const i0 = await redisStats(redis);
    const ti = nowMs();
    await sleep(idleMs);
    const i1 = await redisStats(redis);
    const idlePerS = (i1.calls - i0.calls - 1) / ((nowMs() - ti) / 1e3);

    const s0 = await redisStats(redis);
    const { wall, perPid, check: ok } = await sleepMap(client, p.costItems, p.sleepMs, { chunkSize: p.costChunkSize });
    const s1 = await redisStats(redis);
    const calls = s1.calls - s0.calls - 1; // less the first INFO itself
    const cpuUs = (s1.cpuS - s0.cpuS) * 1e6;
    const { counts } = byDaemon(perPid, daemons);
    const lent = Math.round(counts.slice(1).reduce((a, b) => a + b, 0) / p.costChunkSize);
    const note =
      `${p.costItems} items of ${p.sleepMs} ms, chunkSize ${p.costChunkSize} = ${chunks} chunks, on ${daemons.length} daemons ` +
      `(ran on ${counts.map((c, k) => `d${k + 1} ${c}`).join(', ')}; about ${lent} chunks lent); ${calls} Redis commands in ${(wall / 1e3).toFixed(1)} s; ` +
      `INFO commandstats and cpu are server-wide: anything else on that Redis counts too`;
    rows.push({ ...base, metric: 'redis_calls_per_chunk', value: calls / chunks, unit: 'calls/chunk', check: ok, note });
    if (lent > 0) rows.push({ ...base, metric: 'redis_calls_per_lent_chunk', value: calls / lent, unit: 'calls/chunk', check: ok, note });
    rows.push({ ...base, metric: 'redis_cpu_us_per_chunk', value: cpuUs / chunks, unit: 'us/chunk', check: ok, note });
    rows.push({
      ...base,
      metric: 'redis_idle_calls_per_s',
      value: idlePerS,
      unit: 'calls/s',
      check: 'ok',
      note: `${daemons.length} idle daemons of the cluster (heartbeats, membership) over ${(idleMs / 1e3).toFixed(1)} s, server-wide`,
    });
  } finally {
    redis.disconnect();
  }
}

/** Start lines of the recovery log: { i, pid, at }. */
function starts(log) {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [i, pid, at] = l.split(' ').map(Number);
      return { i, pid, at };
    });
}

async function recovery(p, client, daemons, dir, rows) {
  const base = { scenario: p.scenario, system: p.system };
  const victim = daemons[daemons.length - 1];
  const log = join(dir, 'recovery.log');
  const n = p.recoveryItems;
  const items = Array.from({ length: n }, (_, i) => ({ i, ms: p.recoverySleepMs, log }));
  const deadlineMs = p.recoveryDeadlineMs ?? 45_000;
  const abort = new AbortController();
  const got = new Map(); // index -> [pid, epoch ms received]
  const kill = { at: /** @type {number | null} */ (null), inFlight: /** @type {number[]} */ ([]) };
  const victimWorkers = descendants(victim.pid); // read now: at the kill, nothing may delay it
  // Watches the start log: kill the victim as soon as it starts an item it has not finished.
  const watcher = setInterval(() => {
    if (kill.at !== null) return;
    const s = starts(log).find((x) => x.pid === victim.pid && !got.has(x.i));
    if (!s) return;
    kill.at = Date.now();
    victim.kill9(victimWorkers);
    kill.inFlight = [
      ...new Set(
        starts(log)
          .filter((x) => x.pid === victim.pid && !got.has(x.i))
          .map((x) => x.i),
      ),
    ];
  }, 5);
  const timer = setTimeout(() => abort.abort(), deadlineMs);
  let error = null;
  let doneAt = null;
  let dup = 0;
  try {
    for await (const r of client.imap(loggedSleepThenPpid, items, { chunkSize: 1, ordered: false, signal: abort.signal })) {
      if (got.has(r[0])) dup++;
      got.set(r[0], [r[1], Date.now()]);
    }
    doneAt = Date.now();
  } catch (err) {
    error = abort.signal.aborted ? `the batch did not complete within ${deadlineMs / 1e3} s` : err.message;
  } finally {
    clearInterval(watcher);
    clearTimeout(timer);
  }
  const all = starts(log);
  const runs = new Map();
  for (const s of all) runs.set(s.i, (runs.get(s.i) ?? 0) + 1);
  const reruns = [...runs.values()].filter((c) => c > 1).length;
  const complete = got.size === n && dup === 0;
  const delivered = `${got.size}/${n} results, ${dup} duplicated`;
  const { at: killedAt, inFlight } = kill;
  if (killedAt === null) {
    const why = `daemon ${daemons.length} never started an item of daemon 1's batch: no lending between daemons (${delivered})`;
    rows.push({ ...base, metric: 'recovery_ms', value: NaN, unit: 'ms', check: check(false, error ?? why), note: why });
    return;
  }
  // For each item the victim had started and not finished: its first start elsewhere after the kill.
  const restarts = inFlight.map((i) => all.find((s) => s.i === i && s.pid !== victim.pid && s.at >= killedAt)?.at ?? null);
  const recovered = restarts.filter((t) => t !== null);
  const recoveryMs = inFlight.length > 0 && recovered.length === inFlight.length ? Math.max(...recovered) - killedAt : NaN;
  const ok = check(
    error === null && complete && recovered.length === inFlight.length,
    `${error ?? delivered}; ${recovered.length}/${inFlight.length} interrupted items ran elsewhere`,
  );
  const note =
    `${n} items of ${p.recoverySleepMs} ms, chunkSize 1, on ${daemons.length} daemons x ${p.workers} workers; kill -9 of daemon ${daemons.length}'s primary ` +
    `while it ran items ${inFlight.join(',') || '(none seen)'} of daemon 1's batch; ${delivered}; ${reruns} item(s) ran more than once (execution is at least once)`;
  rows.push({ ...base, metric: 'recovery_ms', value: recoveryMs, unit: 'ms', check: ok, note });
  rows.push({ ...base, metric: 'recovery_complete_ms', value: doneAt === null ? NaN : doneAt - killedAt, unit: 'ms', check: ok, note });
}

void runMain((p) =>
  withClusterName(async (name) => {
    const { connect } = await loadClient();
    const dir = mkdtempSync(join(tmpdir(), 'corepool-bench-cluster-'));
    // One token for every daemon of the cluster, as on several hosts.
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, randomBytes(32).toString('base64url'), { mode: 0o600 });
    const daemons = [];
    let client;
    const rows = [];
    try {
      const tp = {};
      const add = async () => daemons.push(await startDaemon({ workers: p.workers, cluster: { name }, tokenFile }));
      await add();
      client = await connect(daemons[0].url, { token: daemons[0].token, name: 'bench cluster' });
      const counts = [...p.daemonCounts].sort((a, b) => a - b);
      for (const n of counts) {
        while (daemons.length < n) await add();
        await scalingStep(p, client, daemons, tp, rows);
        if (n === 2) await redisCost(p, client, daemons, rows);
      }
      if (daemons.length >= 2) await recovery(p, client, daemons, dir, rows);
      return rows;
    } finally {
      if (client) await client.close().catch(() => {});
      await Promise.all(daemons.map((d) => d.stop()));
      rmSync(dir, { recursive: true, force: true });
    }
  }),
);
