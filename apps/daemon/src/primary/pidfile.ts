/**
 * <data-dir>/daemon.json: who runs on this data dir (pid, url, workers). A new
 * daemon refuses to start beside a live one, and ends the workers of a
 * previous generation that died with kill -9 (a worker busy in a synchronous
 * loop outlives its primary). A pid alone names a process only until it is
 * reused, so each is recorded with its start time (field 22 of
 * /proc/<pid>/stat, fixed for the life of a process): a recorded primary is
 * believed alive only if both match, and workers are killed only by the
 * data dir's marker in their environment.
 */
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processRuns } from '@corepool/protocol/internal';
import { hasEnvEntry, listPids, readStat } from './procfs.js';

/** One recorded process: its pid and its start time (clock ticks after boot; undefined where /proc is missing). */
export interface ProcessId {
  pid: number;
  startTime?: number;
}

/** The contents of daemon.json. */
export interface DaemonRecord {
  pid: number;
  /** The primary's start time (see ProcessId). */
  startTime?: number;
  url: string;
  workerPids: number[];
  /** The workers with their start times, to tell them from a later process that reuses a pid. */
  workers?: ProcessId[];
  startedAt: string;
}

/** Env var that marks a worker with its daemon's data dir, so orphans can be found. */
export const DATA_DIR_ENV = 'COREPOOL_DAEMON_DIR';

/** Path of daemon.json in a data dir. */
export function recordPath(dataDir: string): string {
  return join(dataDir, 'daemon.json');
}

/** Reads daemon.json, or undefined. */
export function readRecord(dataDir: string): DaemonRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(dataDir), 'utf8')) as DaemonRecord;
  } catch {
    return undefined;
  }
}

/** Writes daemon.json (mode 0600) for this primary and these worker pids, whole or not at all. */
export function writeRecord(dataDir: string, rec: { url: string; workerPids: number[]; startedAt: string }): void {
  const full: DaemonRecord = {
    pid: process.pid,
    ...withStart(process.pid),
    url: rec.url,
    workerPids: rec.workerPids,
    workers: rec.workerPids.map((pid) => ({ pid, ...withStart(pid) })),
    startedAt: rec.startedAt,
  };
  const file = recordPath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(full)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

export function removeRecord(dataDir: string): void {
  rmSync(recordPath(dataDir), { force: true });
}

/** Start time of a live process (field 22 of /proc/<pid>/stat), or undefined. */
export function startTimeOf(pid: number): number | undefined {
  return readStat(pid)?.start;
}

function withStart(pid: number): { startTime?: number } {
  const startTime = startTimeOf(pid);
  return startTime === undefined ? {} : { startTime };
}

/**
 * True while `pid` runs, whoever owns it. A zombie does not: it has exited and let go of
 * everything it held, and may stay unreaped for seconds where the parent (often a container's
 * pid 1) reaps slowly; a daemon killed with -9 is not "already running" while it waits.
 */
export function alive(pid: number): boolean {
  // The same check the SDK makes of a recorded daemon before it sends its token (daemon-record.ts).
  return processRuns(pid);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * True if `p` is the very process recorded: alive with the same start time.
 * A record without start times (an older daemon, or no /proc) falls back to
 * `looksRight` of its command line.
 */
function isRecorded(p: ProcessId, looksRight: (cmd: string) => boolean): boolean {
  if (!Number.isInteger(p.pid) || p.pid <= 0 || p.pid === process.pid || !alive(p.pid)) return false;
  const now = startTimeOf(p.pid);
  if (p.startTime !== undefined && now !== undefined) return now === p.startTime;
  return looksRight(cmdline(p.pid));
}

/** True if this process belongs to the user running the daemon. */
function ours(pid: number): boolean {
  const me = process.getuid?.();
  try {
    return me === undefined || statSync(`/proc/${pid}`).uid === me;
  } catch {
    return false;
  }
}

/** True if a process carries this data dir's marker in its environment (it was forked by a daemon on it). */
function marked(pid: number, dataDir: string): boolean {
  return hasEnvEntry(pid, `${DATA_DIR_ENV}=${dataDir}`);
}

/** The live daemon on this data dir, if there is one. */
export function liveDaemon(dataDir: string): DaemonRecord | undefined {
  const rec = readRecord(dataDir);
  if (rec === undefined) return undefined;
  // An older record has no start time: then only a command line that starts a daemon counts.
  return isRecorded(rec, (cmd) => /(cli\.js|corepool) daemon start/.test(cmd)) ? rec : undefined;
}

/**
 * Kills every process of an earlier daemon on this data dir: its workers and
 * what their tasks spawned, found by this data dir's marker in their
 * environment (set for the workers only, so exact) among this user's
 * processes. A pid in daemon.json is never enough: after a reboot or a long
 * run it may name anyone's process. Returns the pids it killed.
 */
export function killPreviousGeneration(dataDir: string): number[] {
  let pids: number[] = [];
  try {
    pids = listPids();
  } catch {
    /* not Linux: nothing identifies the old workers safely */
  }
  const victims: number[] = [];
  for (const pid of pids) {
    if (pid === process.pid || !marked(pid, dataDir) || !ours(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      victims.push(pid);
    } catch {
      /* already gone */
    }
  }
  return victims;
}
