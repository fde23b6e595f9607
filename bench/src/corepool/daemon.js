// daemon.js - a private corepool daemon for one benchmark runner.
//
// Spawns `node apps/daemon/bin/corepool.js daemon start --port 0 --workers N
// --data-dir <tmp>` (the `corepool` command users run: it loads the bundled
// CLI) and waits for the daemon's ready line on stdout:
//   {"event":"listening","url":"ws://127.0.0.1:PORT","pid":N,"token":"...","dataDir":"..."}
// It is stopped with SIGTERM to its own pid (never through npx, which does not
// pass signals on), then SIGKILL with its workers if it does not exit.
//
// Cluster mode (`cluster: { name, redis? }`, or `cluster: true` in
// withCorepool for a fresh `bench-<random>` name) adds `--cluster <redis>
// --cluster-name <name>`; whoever picks the name deletes its keys
// (`cp:{name}:*`) after the daemons stop.

import { spawn, execFileSync } from 'node:child_process';
import { profileArgs } from '../lib/profile.js';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REDIS_URL, deleteClusterKeys, freshClusterName } from '../lib/redis.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
// COREPOOL_BENCH_CLI / COREPOOL_BENCH_CLIENT point the runners at another
// build (its bin/corepool.js, its dist/cli.js, or a stand-in to test the harness
// itself); both default to this repo's.
export const CLI = process.env.COREPOOL_BENCH_CLI ?? join(REPO, 'apps/daemon/bin/corepool.js');
// COREPOOL_BENCH_DAEMON_NODE_ARGS="--flag --flag": node flags for every daemon's primary (what a
// V8 setting would change, e.g. --min-semi-space-size=16), split on spaces.
const DAEMON_NODE_ARGS = (process.env.COREPOOL_BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
const CLIENT = process.env.COREPOOL_BENCH_CLIENT ?? '@corepool/client';

const live = new Set();
process.on('exit', () => {
  for (const d of live) killTree(d.pid, 'SIGKILL');
});

/**
 * @typedef {object} DaemonOptions
 * @property {number} [workers]
 * @property {number} [timeoutMs] how long the daemon has to print its "listening" line
 * @property {string[]} [extraArgs]
 * @property {{ name: string, redis?: string }} [cluster] join this cluster (on REDIS_URL unless `redis`)
 * @property {string} [tokenFile] `--token-file`: daemons of one cluster share one token
 * @property {string[]} [nodeArgs] node flags for the daemon's primary (before the CLI's path)
 */

/**
 * Starts a daemon; resolves with { url, token, pid, dataDir, stop(), kill9() }.
 * @param {DaemonOptions} [options]
 */
export async function startDaemon({ workers = 2, timeoutMs = 20_000, extraArgs = [], cluster, tokenFile, nodeArgs = [] } = {}) {
  if (!existsSync(CLI)) {
    throw new Error(`corepool daemon not built: ${CLI} is missing (run \`npm run build\`)`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'corepool-bench-'));
  const more = [...extraArgs];
  if (cluster) more.push('--cluster', cluster.redis ?? REDIS_URL, '--cluster-name', cluster.name);
  if (tokenFile) more.push('--token-file', tokenFile);
  const child = spawn(
    process.execPath,
    [
      ...profileArgs(),
      ...DAEMON_NODE_ARGS,
      ...nodeArgs,
      CLI,
      'daemon',
      'start',
      '--port',
      '0',
      '--workers',
      String(workers),
      '--data-dir',
      dataDir,
      ...more,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-8000);
  });
  const brief = (text) => {
    const lines = text
      .trim()
      .split('\n')
      .filter((l) => !/^\s+at /.test(l));
    return lines.join(' | ').slice(0, 700);
  };
  const info = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => fail(`no "listening" line within ${timeoutMs} ms`), timeoutMs);
    function fail(why) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`corepool daemon did not start: ${why}${stderr ? `; stderr: ${brief(stderr)}` : ''}`));
    }
    child.on('error', (err) => fail(err.message));
    child.on('exit', (code, signal) => fail(`exited (code ${code}, signal ${signal})`));
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.event === 'listening') {
          clearTimeout(timer);
          child.removeAllListeners('exit');
          resolve(msg);
        }
      }
    });
  });
  child.stdout.resume(); // keep draining later log lines
  // The ready line should carry the token; else it is in the token file (README, CLI).
  let token = info.token;
  if (!token) {
    try {
      token = readFileSync(tokenFile ?? info.tokenFile ?? join(info.dataDir ?? dataDir, 'token'), 'utf8').trim();
    } catch {
      /* connect() will say */
    }
  }
  const daemon = {
    url: info.url,
    token,
    pid: info.pid ?? child.pid,
    dataDir,
    workers,
    cluster,
    /** Calls listener with each chunk the daemon writes to stderr from now on. */
    onStderr(listener) {
      child.stderr.on('data', listener);
    },
    /** Its worker pids as of the kill, when kill9() ended it. */
    orphans: /** @type {number[]} */ ([]),
    /**
     * kill -9 of the primary alone, as a crash would leave it; stop() later reaps its workers if
     * they linger. Pass the workers' pids read beforehand (descendants()) where the moment of the
     * kill matters: reading them here takes a pgrep per process first.
     * @param {number[]} [workers]
     */
    kill9(workers) {
      daemon.orphans = workers ?? descendants(daemon.pid);
      try {
        process.kill(daemon.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    },
    async stop() {
      live.delete(daemon);
      const tree = [...descendants(daemon.pid), ...daemon.orphans];
      const gone = new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', resolve);
      });
      try {
        process.kill(daemon.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      const timer = setTimeout(() => killTree(daemon.pid, 'SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
      for (const pid of tree) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* exited with it */
        }
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  live.add(daemon);
  return daemon;
}

/**
 * Runs body(name) with a fresh cluster name, then deletes that cluster's keys,
 * also when body throws. body must stop its daemons before it returns.
 * @template T
 * @param {(name: string) => Promise<T>} body
 * @returns {Promise<T>}
 */
export async function withClusterName(body) {
  const name = freshClusterName();
  try {
    return await body(name);
  } finally {
    await deleteClusterKeys(name);
  }
}

/**
 * Imports the client SDK, with a clear error while it is not built.
 * @returns {Promise<typeof import('@corepool/client')>}
 */
export async function loadClient() {
  try {
    return await import(CLIENT);
  } catch (err) {
    throw new Error(`${CLIENT} not importable (is it built? \`npm run build\`): ${err.message}`, { cause: err });
  }
}

/** connect() to this daemon, as an app would. */
export async function connectTo(daemon, options = {}) {
  const { connect } = await loadClient();
  return connect(daemon.url, { token: daemon.token, ...options });
}

/**
 * Starts a daemon and a client, runs body({ daemon, client }), and always
 * closes both. The client is imported first, so a missing build fails fast.
 * `cluster: true` starts the daemon in cluster mode, alone in a cluster of a
 * fresh name whose keys are deleted afterwards (a runner's `cluster` param).
 * @template T
 * @param {Omit<DaemonOptions, 'cluster'> & { cluster?: boolean }} options
 * @param {(x: { daemon: Awaited<ReturnType<typeof startDaemon>>, client: import('@corepool/client').Client }) => Promise<T>} body
 * @returns {Promise<T>}
 */
export async function withCorepool(options, body) {
  const { cluster, ...rest } = options;
  if (cluster) return withClusterName((name) => withOneDaemon({ ...rest, cluster: { name } }, body));
  return withOneDaemon(rest, body);
}

/**
 * @template T
 * @param {DaemonOptions} options
 * @param {(x: { daemon: Awaited<ReturnType<typeof startDaemon>>, client: import('@corepool/client').Client }) => Promise<T>} body
 * @returns {Promise<T>}
 */
async function withOneDaemon(options, body) {
  await loadClient();
  const daemon = await startDaemon(options);
  let client;
  try {
    client = await connectTo(daemon);
    return await body({ daemon, client });
  } finally {
    if (client) await client.close().catch(() => {});
    await daemon.stop();
  }
}

/** Every descendant pid of pid (workers and anything they forked). */
export function descendants(pid) {
  let out = [];
  let kids = [];
  try {
    kids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    /* pgrep exits 1 when there are none */
  }
  for (const k of kids) out = out.concat(k, descendants(k));
  return out;
}

/** RSS in MB of one process (0 when it is gone). */
export function rssMb(pid) {
  try {
    return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) / 1024;
  } catch {
    return 0;
  }
}

/** RSS of the daemon's primary and the sum over its worker processes, in MB. */
export function daemonRss(pid) {
  const workers = descendants(pid);
  let workerMb = 0;
  for (const w of workers) workerMb += rssMb(w);
  return { primary: rssMb(pid), workers: workerMb, workerCount: workers.length };
}

function killTree(pid, signal) {
  for (const p of [pid, ...descendants(pid)]) {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  }
}
