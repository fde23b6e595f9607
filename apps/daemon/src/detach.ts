/**
 * detach.ts - `daemon start --detach`: the daemon started again as a child of
 * its own, in the background, its output to a file in the data dir; the parent
 * returns once the child's pid file names it (its workers are up), or says why
 * it did not start. And `daemon stop`'s wait for a process to be gone.
 */
import { spawn } from 'node:child_process';
import { closeSync, fchmodSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultDataDir, type DaemonOptions } from './options.js';
import { readRecord } from './primary/pidfile.js';
import { secureDataDir } from './data-dir.js';
import { fileEnds, startFailure } from './start-failure.js';
import { OUT_FILE, logPath } from './log-file.js';

/** Where the detached child finds --cluster's URL (it may hold Redis's password): read once and removed (takeDetachedCluster). */
const CLUSTER_ENV = 'COREPOOL_DETACHED_CLUSTER';

/**
 * The start flags again for the detached child, less --detach and the secrets: the token and --cluster's URL
 * (the child gets those by env, never argv, which anyone on the machine can read).
 */
function childArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--token' || argv[i] === '--cluster') i++;
    else if (argv[i] !== '--detach' && !argv[i]!.startsWith('--token=') && !argv[i]!.startsWith('--cluster=')) out.push(argv[i]!);
  }
  out.push('--log-to-file');
  return out;
}

/** In the detached child: --cluster's URL from its parent, taken out of the environment its workers inherit. */
export function takeDetachedCluster(): string | undefined {
  const url = process.env[CLUSTER_ENV];
  delete process.env[CLUSTER_ENV];
  return url === '' ? undefined : url;
}

/** Starts the daemon that `cli` (the command's own script) runs, detached, with the flags this one was given. */
export async function detach(opts: DaemonOptions, cli: string): Promise<void> {
  const { dataDir } = opts;
  const log = logPath(dataDir);
  const tightened = secureDataDir(dataDir);
  if (tightened !== undefined) console.error(`corepool: ${tightened}`);
  // The log itself is written (and rotated) by the daemon; this file takes only what escapes its logger.
  const out = join(dataDir, OUT_FILE);
  const ends = fileEnds([log, out]);
  const fd = openSync(out, 'a', 0o600);
  fchmodSync(fd, 0o600);
  const env = {
    ...process.env,
    ...(opts.tokenSource === 'flag' ? { COREPOOL_TOKEN: opts.token } : {}),
    ...(opts.cluster === undefined ? {} : { [CLUSTER_ENV]: opts.cluster.redisUrl }),
  };
  const child = spawn(process.execPath, [cli, ...childArgs(process.argv.slice(2))], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env,
  });
  closeSync(fd);
  child.unref();
  // Ready when the pid file names the child (it is written once the workers are up); a small file, read every 10 ms.
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const rec = readRecord(dataDir);
    if (rec !== undefined && rec.pid === child.pid) {
      console.log(JSON.stringify({ event: 'detached', pid: child.pid, url: rec.url, log }));
      // The line above is for scripts; a person at a terminal is told what to do next as well.
      if (process.stdout.isTTY === true) {
        const dir = dataDir === resolve(defaultDataDir()) ? '' : ` --data-dir ${/\s/.test(dataDir) ? JSON.stringify(dataDir) : dataDir}`;
        console.error(`corepool: daemon started in the background on ${rec.url} (pid ${child.pid}); its log: ${log}`);
        console.error(`corepool: see it with \`corepool daemon status${dir}\`, stop it with \`corepool daemon stop${dir}\``);
      }
      return;
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  if (child.exitCode === null)
    throw new Error(`the daemon did not start within 15 s (pid ${child.pid} still starting); see ${log} and ${out}`);
  const why = startFailure(ends);
  throw new Error(`the daemon did not start${why === undefined ? '' : `: ${why}`} (exit code ${child.exitCode}; see ${log} and ${out})`);
}

/** Resolves once `pid` is gone, or after `ms`. */
export async function waitForExit(pid: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
