// A local corepool daemon for the cluster demo: `corepool daemon start` as a
// child process with its own port (--port 0) and data dir, in a cluster on
// Redis, ready once it prints its "listening" line. stop() ends it gracefully
// (SIGTERM: it leaves the cluster at once), or kills it and its workers if it
// does not exit in time.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const STOP_TIMEOUT_MS = 10_000;

/** Every daemon process started here that has not exited yet, also those still starting. */
/** @type {Set<import('node:child_process').ChildProcess>} */
export const running = new Set();

/** SIGKILL to every daemon still running (and its workers): the last resort of a cleanup. */
export function killRunning() {
  for (const child of running) {
    if (child.pid === undefined) continue;
    for (const pid of [child.pid, ...childPids(child.pid)]) kill(pid);
  }
}

/** The daemon's CLI from the installed @corepool/daemon package (bundled by `npm run build`), as its `corepool` bin runs it. */
function cliPath() {
  const pkg = createRequire(import.meta.url).resolve('@corepool/daemon/package.json');
  const cli = join(dirname(pkg), 'bundle', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  return cli;
}

/**
 * @typedef {object} LocalDaemon
 * @property {string} url
 * @property {number} pid
 * @property {string} dataDir
 * @property {() => Promise<void>} stop
 */

/**
 * Starts `corepool daemon start` in the cluster `clusterName` on `redisUrl`.
 * @param {{ dataDir: string, tokenFile: string, redisUrl: string, clusterName: string, workers: number }} o
 * @returns {Promise<LocalDaemon>}
 */
export async function startDaemon(o) {
  const args = ['daemon', 'start', '--port', '0', '--workers', String(o.workers), '--data-dir', o.dataDir];
  args.push('--token-file', o.tokenFile, '--cluster', o.redisUrl, '--cluster-name', o.clusterName);
  const child = spawn(process.execPath, [cliPath(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  /** @type {{ url: string, pid: number }} */
  const ready = await new Promise((resolve, reject) => {
    let buf = '';
    const fail = (/** @type {string} */ why) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`daemon did not start: ${why}${stderr ? `\n${stderr.trim()}` : ''}`));
    };
    const timer = setTimeout(() => fail('no "listening" line within 30 s'), 30_000);
    child.once('error', (err) => fail(err.message));
    const onExit = (/** @type {number | null} */ code, /** @type {string | null} */ signal) =>
      fail(`it exited (code ${code}, signal ${signal})`);
    child.once('exit', onExit);
    child.stdout.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          const msg = JSON.parse(line);
          if (msg.event === 'listening') {
            clearTimeout(timer);
            child.off('exit', onExit);
            resolve({ url: msg.url, pid: msg.pid ?? child.pid });
          }
        } catch {
          /* not a JSON line */
        }
      }
    });
  });
  child.stdout.resume(); // keep draining its log
  /** @type {Promise<void> | undefined} */
  let stopping;
  return {
    ...ready,
    dataDir: o.dataDir,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const workers = childPids(ready.pid);
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          for (const pid of [ready.pid, ...workers]) kill(pid);
        }, STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
        for (const pid of workers) kill(pid); // none should be left; never leave one behind
      })();
      return stopping;
    },
  };
}

/** @param {number} pid */
function childPids(pid) {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
}

/** @param {number} pid */
function kill(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}
