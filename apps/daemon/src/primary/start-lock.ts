/**
 * <data-dir>/daemon.lock: taken by a daemon at the very start of `daemon
 * start` and held until it has stopped, so that two daemons started at once on
 * one data dir cannot both run (they opened the same LMDB and overwrote each
 * other's writes: acknowledged adds were lost). daemon.json comes later, once
 * the daemon listens, and could not close that window.
 *
 * The lock file is created whole (linked from a file of its own) and names its holder by pid
 * and start time; one left by a daemon killed with -9 names a process that is
 * gone (or a reused pid with another start time) and is taken over. Several
 * starters may find the same stale lock at once: each used to move "the"
 * file aside by its path, and a slower one moved the fresh lock another had
 * just made there (two holders in 5 of 40 rounds of four starters). Now only
 * the starter that creates `daemon.lock.take-<the stale holder>` exclusively
 * may remove it, and removes it only if the lock still names that holder:
 * nobody else can have replaced it meanwhile (a fresh lock needs the path
 * free, and only the taker frees it). A taker killed during its takeover
 * leaves its take file naming a dead process; the next starter removes it and
 * tries again. Two starters doing that at once with a third's takeover in
 * between is the one race left (three faults in one millisecond).
 */
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonRunningError } from '@corepool/protocol';
import { alive, startTimeOf } from './pidfile.js';

/** Takes the data dir's start lock, or throws saying who holds it. Returns the release. */
export function takeStartLock(dataDir: string): () => void {
  const file = join(dataDir, 'daemon.lock');
  const mine = `${process.pid} ${startTimeOf(process.pid) ?? 0}\n`;
  for (let attempt = 0; attempt < 8; attempt++) {
    try {
      createWith(file, mine);
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
    if (holder === undefined) continue; // gone meanwhile: try to create it again
    takeOver(file, holder, mine);
  }
  throw new DaemonRunningError(`cannot take the start lock ${file}: other daemons keep starting on ${dataDir}`);
}

/**
 * Removes the stale lock naming `holder`, if this starter is the one to take it over (it creates the
 * take file first) and the lock still names that holder. Whatever happens, the caller tries again.
 */
function takeOver(file: string, holder: string, mine: string): void {
  // Named by the stale holder's pid and start time (the lock's only legitimate content; anything else, digits only).
  const take = `${file}.take-${holder.replace(/[^0-9]+/g, '-').slice(0, 64)}`;
  try {
    createWith(take, mine);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another starter is taking it over (its fresh lock comes next), or died doing so: its take file is stale.
    const taker = read(take);
    const [pid, start] = (taker ?? '').trim().split(' ').map(Number);
    if (taker !== undefined && !(pid !== undefined && pid > 0 && holderLives(pid, start))) rmSync(take, { force: true });
    else waitABit();
    return;
  }
  try {
    if (read(file) === holder) rmSync(file, { force: true });
  } finally {
    rmSync(take, { force: true });
  }
}

/**
 * Creates `file` holding `text`, or throws EEXIST: whole or not at all. Created with O_EXCL and then
 * written, it was empty for a moment, and a starter reading it then took it for stale and removed it.
 */
function createWith(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** A few milliseconds, synchronously: the start has nothing else to do until the lock is settled. */
function waitABit(): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
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
