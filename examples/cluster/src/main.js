// `npm run demo:cluster`: a corepool cluster of three local daemons on one
// Redis (REDIS_URL, default redis://127.0.0.1:6379), as three hosts would run
// it: each daemon with its own port and data dir, all with one token file and
// one fresh cluster name. Then:
//   1. one map from a client on daemon 1, of items that sleep (so they need
//      workers, not cores): daemon 1's own workers are too few, the other
//      daemons' idle workers should take the rest; prints which daemon ran how
//      many items and checks every result;
//   2. one counter shared by three app processes, one per daemon, each adding
//      1 a thousand times: every daemon must then read 3,000.
// Whatever does not hold is printed as WRONG and the exit code is 1. Everything
// the demo started (daemons and their workers, app processes, the cluster's
// Redis keys, temp dirs) is stopped and removed at the end, also on failure
// or Ctrl-C.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@corepool/client';
import { Redis } from 'ioredis';
import { killRunning, running, startDaemon } from './daemon.js';
import { progress } from '../../cpu-pool/src/progress.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DAEMONS = 3;
const WORKERS = 2; // per daemon
const ITEMS = 90;
const ITEM_MS = 100;
const ADDS = 1_000; // per app

const clusterName = `demo-${randomBytes(4).toString('hex')}`;
/** @type {string[]} what went wrong, printed at the end */
const wrong = [];

// ---- cleanup: everything started is registered here, undone in reverse order, once ----
/** @type {{ what: string, undo: () => Promise<unknown> | unknown }[]} */
const started = [];
/** @type {Promise<void> | undefined} */
let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    for (const { what, undo } of started.reverse()) {
      try {
        const said = await undo();
        if (typeof said === 'string') console.log(`  ${said}`);
      } catch (err) {
        console.error(`  could not ${what}: ${err instanceof Error ? err.message : err}`);
      }
    }
  })();
  return cleaning;
}
let interrupted = false;
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    interrupted = true;
    console.log(`\n${signal}: stopping everything this demo started`);
    void cleanup().finally(() => process.exit(130));
  });
}

/**
 * A task, sent to the workers as source (so self-contained): sleeps without using a core, then
 * returns the item's square and the pid of the daemon that ran it (a worker's parent is its daemon).
 * @param {number} i
 * @returns {[square: number, daemonPid: number]}
 */
function work(i) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  return [i * i, process.ppid];
}

/**
 * Forks app.js; resolves `ready` and `done` with its messages; fails if it exits first.
 * @param {string[]} args
 * @param {string} token
 */
function startApp(args, token) {
  const child = fork(fileURLToPath(new URL('app.js', import.meta.url)), args, {
    stdio: 'inherit',
    env: { ...process.env, COREPOOL_TOKEN: token },
  });
  started.push({ what: 'stop an app process', undo: () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL') });
  /** @type {Map<string, (m: any) => void>} */
  const waiting = new Map();
  /** @type {Promise<never>} */
  const died = new Promise((_, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`app ${args[3]} exited with code ${code}`));
    });
  });
  died.catch(() => {}); // observed through next()
  child.on('message', (/** @type {any} */ m) => waiting.get(m.type)?.(m));
  /** @type {(type: string) => Promise<any>} */
  const next = (type) => Promise.race([new Promise((resolve) => waiting.set(type, resolve)), died]);
  return { child, ready: next('ready'), done: next('done') };
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  console.log(`corepool cluster demo: ${DAEMONS} daemons x ${WORKERS} workers on Redis ${REDIS_URL}, cluster "${clusterName}"\n`);

  // Redis first: without it there is no cluster, and the message should say so plainly.
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (err) {
    throw new Error(
      `cannot reach Redis at ${REDIS_URL} (${err instanceof Error ? err.message : err}): start redis-server, or set REDIS_URL`,
      { cause: err },
    );
  }
  started.push({
    what: `delete the Redis keys of cluster ${clusterName}`,
    undo: async () => {
      let n = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `cp:{${clusterName}}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) n += await redis.unlink(...keys);
      } while (cursor !== '0');
      redis.disconnect();
      return `deleted ${n} Redis key(s) of cluster ${clusterName} (cp:{${clusterName}}:*)`;
    },
  });

  // One temp dir: a data dir per daemon (as on separate hosts) and the one token they share.
  const dir = mkdtempSync(join(tmpdir(), 'corepool-cluster-demo-'));
  started.push({ what: `remove ${dir}`, undo: () => (rmSync(dir, { recursive: true, force: true }), `removed ${dir}`) });
  // Undone before the temp dir goes: a daemon still starting writes there.
  started.push({
    what: 'kill the daemons left',
    undo: () =>
      running.size > 0 ? (killRunning(), `killed ${running.size} daemon(s) that had not stopped or finished starting`) : undefined,
  });

  const token = randomBytes(32).toString('base64url');
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });

  console.log(
    `starting ${DAEMONS} daemons: corepool daemon start --port 0 --workers ${WORKERS} --data-dir <own> --token-file ${tokenFile} \\`,
  );
  console.log(`                                 --cluster ${REDIS_URL} --cluster-name ${clusterName}`);
  /** @type {import('./daemon.js').LocalDaemon[]} */
  const daemons = [];
  for (let k = 1; k <= DAEMONS; k++) {
    const dataDir = join(dir, `daemon-${k}`);
    mkdirSync(dataDir, { mode: 0o700 });
    const d = await startDaemon({ dataDir, tokenFile, redisUrl: REDIS_URL, clusterName, workers: WORKERS });
    started.push({ what: `stop daemon ${k}`, undo: () => d.stop().then(() => `stopped daemon ${k} (pid ${d.pid})`) });
    daemons.push(d);
    console.log(`  daemon ${k}: ${d.url}  pid ${d.pid}  data dir ${dataDir}`);
  }
  const label = (/** @type {number} */ pid) => {
    const k = daemons.findIndex((d) => d.pid === pid);
    return k < 0 ? `pid ${pid} (not one of ours!)` : `daemon ${k + 1} (${daemons[k]?.url}, pid ${pid})`;
  };

  const client = await connect(daemons[0]?.url, { token, name: 'cluster demo' });
  started.push({ what: 'close the client', undo: () => client.close() });

  // Membership: daemon 1's status lists every daemon of the cluster.
  let members = 0;
  let status = await client.status();
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(200)) {
    status = await client.status();
    members = status.cluster?.daemons.filter((d) => d.alive).length ?? 0;
    // Each daemon's URL arrives with its first heartbeat after its start.
    if (members >= DAEMONS && status.cluster?.daemons.every((d) => d.url !== '')) break;
  }
  console.log(`\ncluster "${clusterName}": daemon 1 sees ${members} live daemon(s) (corepool daemon status):`);
  const order = (/** @type {number} */ pid) => daemons.findIndex((d) => d.pid === pid);
  for (const d of [...(status.cluster?.daemons ?? [])].sort((a, b) => order(a.pid) - order(b.pid))) {
    console.log(`  ${d.id}  ${d.url}  pid ${d.pid}  workers ${d.busy} busy / ${d.idle} idle${d.alive ? '' : '  (lease lapsed)'}`);
  }
  if (members < DAEMONS) wrong.push(`daemon 1's status lists ${members} live daemons, not ${DAEMONS}`);

  // ---- 1. one map across the cluster ----
  const total = DAEMONS * WORKERS;
  console.log(
    `\n1. client.map on daemon 1: ${ITEMS} items that each sleep ${ITEM_MS} ms (${(ITEMS * ITEM_MS) / 1000} s of work: ` +
      `${((ITEMS * ITEM_MS) / 1000 / WORKERS).toFixed(1)} s on daemon 1's ${WORKERS} workers alone, ` +
      `${((ITEMS * ITEM_MS) / 1000 / total).toFixed(1)} s on all ${total})`,
  );
  const items = Array.from({ length: ITEMS }, (_, i) => i);
  const t0 = performance.now();
  const bar = progress('map');
  const results = await client.map(work, items, { signal: AbortSignal.timeout(120_000), onProgress: bar.onProgress }).finally(bar.stop);
  const seconds = (performance.now() - t0) / 1000;
  /** @type {Map<number, number>} */
  const perDaemon = new Map(daemons.map((d) => [d.pid, 0]));
  let misplaced = 0;
  results.forEach(([square, pid], i) => {
    if (square !== i * i) misplaced++;
    perDaemon.set(pid, (perDaemon.get(pid) ?? 0) + 1);
  });
  console.log(`   done in ${seconds.toFixed(2)} s; items run per daemon:`);
  for (const [pid, n] of perDaemon) console.log(`     ${label(pid)}: ${String(n).padStart(3)} ${'#'.repeat(Math.round(n / 2))}`);
  const ok = results.length === ITEMS && misplaced === 0;
  console.log(`   ${results.length} results, in input order and correct: ${ok ? 'yes' : `NO (${misplaced} wrong)`}`);
  if (!ok) wrong.push(`the map returned ${results.length} results, ${misplaced} of them wrong or out of place`);
  const idle = daemons.filter((d) => (perDaemon.get(d.pid) ?? 0) === 0).map((d) => label(d.pid));
  if (idle.length > 0) {
    const hint =
      idle.length === DAEMONS - 1
        ? ' (a build without worker lending between daemons runs a batch only on the daemon its client is connected to)'
        : '';
    wrong.push(`the map did not spread across the cluster: ${idle.join(', ')} ran none of its items${hint}`);
  }

  // ---- 2. one counter shared through apps on different daemons ----
  const counterName = 'demo-counter';
  console.log(
    `\n2. value("${counterName}"): ${DAEMONS} app processes, app k connected to daemon k, each adding 1 ${ADDS.toLocaleString('en-US')} times`,
  );
  const apps = daemons.map((d, k) => startApp([d.url, counterName, String(ADDS), String(k + 1)], token));
  await Promise.all(apps.map((a) => a.ready));
  for (const a of apps) a.child.send('go');
  const done = await Promise.all(apps.map((a) => a.done));
  for (const r of done)
    console.log(`   app ${r.id} (pid ${r.pid}) on ${r.url}: ${r.results.length} adds, last add returned ${r.results.at(-1)}`);
  const want = DAEMONS * ADDS;
  /** @type {number[]} */
  const seen = [];
  for (const [k, d] of daemons.entries()) {
    const reader = k === 0 ? client : await connect(d.url, { token, name: 'cluster demo reader' });
    if (reader !== client) started.push({ what: 'close a reader', undo: () => reader.close() });
    const value = await /** @type {import('@corepool/client').Value<number>} */ (reader.value(counterName, { initial: 0 })).get();
    seen.push(value);
    console.log(`   daemon ${k + 1} reads ${value}${value === want ? '' : `  (want ${want})`}`);
  }
  const all = done.flatMap((r) => /** @type {number[]} */ (r.results)).sort((a, b) => a - b);
  const distinct = all.length === want && all.every((v, i) => v === i + 1);
  console.log(`   every add saw a distinct value 1..${want}: ${distinct ? 'yes' : 'NO'}`);
  if (seen.some((v) => v !== want) || !distinct) {
    const hint = seen.every((v) => v === ADDS)
      ? " (a build whose state is per daemon, in each daemon's own LMDB, keeps one counter per daemon)"
      : '';
    wrong.push(`the counter is not shared: the daemons read ${seen.join(', ')}, want ${want} on each, every add a distinct value${hint}`);
  }
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  // After Ctrl-C, main fails because its daemons are going: that is no news.
  if (!interrupted) console.error(`\nfailed: ${err instanceof Error ? err.message : err}`);
}
if (interrupted) await new Promise(() => {}); // the signal handler cleans up and exits
console.log('\ncleaning up:');
await cleanup();
if (wrong.length > 0) {
  console.log('');
  for (const w of wrong) console.log(`WRONG: ${w}`);
}
const verdict = failed ? 'failed (see above)' : wrong.length > 0 ? 'NOT as a cluster should behave (see above)' : 'all checks passed';
console.log(`\ncluster demo: ${verdict}`);
process.exit(failed || wrong.length > 0 ? 1 : 0);
