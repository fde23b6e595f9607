/**
 * <data-dir>/daemon.json: who runs on this data dir (pid, url, worker pids).
 * A new daemon refuses to start beside a live one, and ends the workers of a
 * previous generation that died with kill -9 (a worker busy in a synchronous
 * loop outlives its primary).
 */
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The contents of daemon.json. */
export interface DaemonRecord {
  pid: number;
  url: string;
  workerPids: number[];
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

export function writeRecord(dataDir: string, rec: DaemonRecord): void {
  writeFileSync(recordPath(dataDir), `${JSON.stringify(rec)}\n`, { mode: 0o600 });
}

export function removeRecord(dataDir: string): void {
  rmSync(recordPath(dataDir), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** The live daemon on this data dir, if there is one. */
export function liveDaemon(dataDir: string): DaemonRecord | undefined {
  const rec = readRecord(dataDir);
  if (rec === undefined || rec.pid === process.pid || !alive(rec.pid)) return undefined;
  return /cli\.js|corepool/.test(cmdline(rec.pid)) ? rec : undefined;
}

/**
 * Kills every worker of an earlier daemon on this data dir: those named in
 * daemon.json and any process whose environment carries this data dir.
 * Returns the pids it killed.
 */
export function killPreviousGeneration(dataDir: string): number[] {
  const victims = new Set<number>();
  for (const pid of readRecord(dataDir)?.workerPids ?? []) {
    if (alive(pid) && /worker[\\/]main\.js/.test(cmdline(pid))) victims.add(pid);
  }
  const marker = `${DATA_DIR_ENV}=${dataDir}\0`;
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    /* not Linux: the pid file is all we have */
  }
  for (const name of entries) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').includes(marker)) victims.add(pid);
    } catch {
      /* gone or not ours */
    }
  }
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return [...victims];
}
