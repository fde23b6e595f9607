/**
 * daemon-record.ts - <data-dir>/daemon.json as the SDK and the CLI read it:
 * the URL of the daemon running on a data dir, and whether the process it
 * names still runs. A data dir's token goes only to a daemon recorded there
 * and alive. Sent to the default port when no daemon was recorded, or to the
 * port of one that had exited, it went to whatever listened there: any local
 * user could bind the port, read the token, and then run code as the
 * daemon's user.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What /proc/<pid>/stat says about one process. */
export interface ProcStat {
  /** One letter: R running, S sleeping, T stopped, Z zombie, ... */
  state: string;
  ppid: number;
  /** Start time in clock ticks since boot (field 22): with the pid, it names one process for good. */
  start: number;
  /** CPU time used, user and system, in clock ticks (fields 14 and 15; /proc counts USER_HZ, 100 a second). */
  cpuTicks: number;
}

/** Parses a /proc/<pid>/stat line. */
export function parseProcStat(text: string): ProcStat | undefined {
  // The command name (field 2) is in parentheses and may itself hold spaces and ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === undefined || fields.length < 20) return undefined;
  return { state, ppid: Number(fields[1]), start: Number(fields[19]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** The daemon a data dir's daemon.json names. */
export interface RecordedDaemon {
  url: string;
  pid: number;
  /** The process it names runs (the same process: same pid and, where /proc says, the same start time). */
  live: boolean;
}

/** daemon.json of `dataDir`, or undefined when there is none (or it does not parse). */
export function recordedDaemon(dataDir: string): RecordedDaemon | undefined {
  let rec: { url?: unknown; pid?: unknown; startTime?: unknown };
  try {
    rec = JSON.parse(readFileSync(join(dataDir, 'daemon.json'), 'utf8')) as typeof rec;
  } catch {
    return undefined;
  }
  if (typeof rec.url !== 'string' || rec.url === '' || !Number.isInteger(rec.pid) || (rec.pid as number) <= 0) return undefined;
  const pid = rec.pid as number;
  return { url: rec.url, pid, live: processRuns(pid, typeof rec.startTime === 'number' ? rec.startTime : undefined) };
}

/** True while process `pid`, whoever owns it, started at `startTime` where given and known, runs (a zombie has exited). */
export function processRuns(pid: number, startTime?: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let stat: ProcStat | undefined;
  try {
    stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    // No /proc (not Linux): a live pid is believed.
    return true;
  }
  if (stat === undefined) return true;
  return stat.state !== 'Z' && (startTime === undefined || stat.start === startTime);
}
