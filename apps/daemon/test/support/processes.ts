/**
 * What /proc says about the processes a test daemon leaves: whether a pid
 * lives, its resident memory and CPU time, and every process of one daemon's generation.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** True while a process exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resident memory of a process in bytes (0 if gone). */
export function readRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

/** CPU time a process has used (user and system, every thread), in ms; at the kernel's 10 ms ticks. */
export function cpuMs(pid: number): number {
  // The fields after the command, whose parentheses may hold spaces: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Pids (other than `except`) whose environment names this daemon data dir: its workers, and any orphan of it. */
export function generation(dataDir: string, except = -1): number[] {
  const marker = `COREPOOL_DAEMON_DIR=${dataDir}\0`;
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === except || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker)) pids.push(pid);
    } catch {
      /* gone or not ours */
    }
  }
  return pids;
}
