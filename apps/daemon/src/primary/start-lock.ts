/**
 * <data-dir>/daemon.lock: taken by a daemon at the very start of `daemon
 * start` and held until it has stopped, so that two daemons started at once on
 * one data dir cannot both run (they opened the same LMDB and overwrote each
 * other's writes: acknowledged adds were lost). daemon.json comes later, once
 * the daemon listens, and could not close that window.
 *
 * The lock file is created exclusively (O_EXCL) and names its holder by pid
 * and start time; one left by a daemon killed with -9 names a process that is
 * gone (or a reused pid with another start time) and is taken over.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonRunningError } from '@corepool/protocol';
import { alive, startTimeOf } from './pidfile.js';

/** Takes the data dir's start lock, or throws saying who holds it. Returns the release. */
export function takeStartLock(dataDir: string): () => void {
  const file = join(dataDir, 'daemon.lock');
  const mine = `${process.pid} ${startTimeOf(process.pid) ?? 0}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, mine, { flag: 'wx', mode: 0o600 });
      let held = true;
      const release = (): void => {
        if (!held) return;
        held = false;
        // Only our own lock: never one a later daemon took over.
        if (read(file) === mine) rmSync(file, { force: true });
      };
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = read(file);
    const [pid, start] = (holder ?? '').trim().split(' ').map(Number);
    if (holder !== undefined && pid !== undefined && pid > 0 && holderLives(pid, start)) {
      throw new DaemonRunningError(
        `a daemon already runs or is starting on ${dataDir} (pid ${pid}, holding ${file}); stop it with: corepool daemon stop --data-dir ${dataDir}`,
      );
    }
    // Stale: moved aside (atomically, so two starters never both delete a fresh lock), then try again.
    const aside = `${file}.stale-${process.pid}`;
    try {
      renameSync(file, aside);
      rmSync(aside, { force: true });
    } catch {
      /* another starter moved it first */
    }
  }
  throw new DaemonRunningError(`cannot take the start lock ${file}: other daemons keep starting on ${dataDir}`);
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function holderLives(pid: number, start: number | undefined): boolean {
  if (pid === process.pid || !alive(pid)) return false;
  // Without /proc (start time 0 or unknown), a live pid is believed.
  const now = startTimeOf(pid);
  return start === undefined || start === 0 || now === undefined || now === start;
}
