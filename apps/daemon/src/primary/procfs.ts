/**
 * Reading processes from Linux /proc: state, parent and start time of a pid
 * (from /proc/<pid>/stat), every pid at once, and whether a process's
 * environment carries a marker. A pid plus its start time names one process
 * for good: a pid the kernel reused has a later start time.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** What /proc/<pid>/stat says about one process. */
export interface ProcStat {
  /** One letter: R running, S sleeping, T stopped, Z zombie, ... */
  state: string;
  ppid: number;
  /** Start time in clock ticks since boot (field 22). */
  start: number;
}

/** The stat of one process; undefined if it is gone, 'unknown' if /proc could not be read (EMFILE, EACCES). */
export function readStat(pid: number): ProcStat | undefined | 'unknown' {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH' ? undefined : 'unknown';
  }
  return parseStat(text);
}

/** Every process's stat, by pid; throws if /proc cannot be listed. */
export function readAllStats(): Map<number, ProcStat> {
  const all = new Map<number, ProcStat>();
  for (const pid of listPids()) {
    try {
      const stat = parseStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
      if (stat !== undefined) all.set(pid, stat);
    } catch {
      /* exited since the listing */
    }
  }
  return all;
}

/** Every pid in /proc; throws if /proc cannot be listed. */
export function listPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(name));
  }
  return pids;
}

/** True if the process's environment holds `entry` ("NAME=value") exactly. */
export function hasEnvEntry(pid: number, entry: string): boolean {
  try {
    return `\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}`.includes(`\0${entry}\0`);
  } catch {
    return false;
  }
}

function parseStat(text: string): ProcStat | undefined {
  // The command name (field 2) is in parentheses and may itself hold spaces and ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === undefined || fields.length < 20) return undefined;
  return { state, ppid: Number(fields[1]), start: Number(fields[19]) };
}
