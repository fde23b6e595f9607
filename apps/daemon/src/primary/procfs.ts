/**
 * Reading processes from Linux /proc: state, parent, start time and CPU time
 * of a pid (from /proc/<pid>/stat), its resident memory, every pid at once,
 * and whether a process's environment carries a marker; RssReader reads one
 * process's resident memory again and again (the RSS watchdog) through a kept descriptor. A pid plus its start time names one process
 * for good: a pid the kernel reused has a later start time.
 */
import { closeSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { parseProcStat, type ProcStat } from '@corepool/protocol/internal';

export type { ProcStat } from '@corepool/protocol/internal';

/** A stat line fits (the command name is at most 64 bytes); reused by every read. */
const statBuffer = Buffer.allocUnsafe(1024);

/** Milliseconds in one clock tick of /proc (USER_HZ is 100 on every Linux architecture). */
export const MS_PER_TICK = 10;

/** The stat of one process, or undefined if it is gone (or /proc could not be read). */
export function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(statText(pid));
  } catch {
    return undefined;
  }
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

/** /proc/<pid>/stat: one read into a shared buffer (readFileSync costs 3x as much, measured over a full scan). */
function statText(pid: number): string {
  const fd = openSync(`/proc/${pid}/stat`, 'r');
  try {
    return statBuffer.toString('latin1', 0, readSync(fd, statBuffer, 0, statBuffer.length, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads one process's resident memory, again and again, through a descriptor
 * of /proc/<pid>/statm kept open: one pread of a one-line file per reading,
 * where readRss opens, reads and closes /proc/<pid>/status (55 formatted
 * lines). At the watchdog's 10 readings a second per worker, readRss was most
 * of an idle primary's CPU (measured). The descriptor names the process it
 * was opened for, never a later one given the same pid; once that process is
 * gone every read fails and the reader answers undefined.
 */
export class RssReader {
  readonly #pid: number;
  #fd = -1;
  #closed = false;

  constructor(pid: number) {
    this.#pid = pid;
  }

  /** Resident set size in bytes, or undefined if the process is gone (or /proc could not be read). */
  read(): number | undefined {
    if (this.#closed) return undefined;
    try {
      if (this.#fd < 0) this.#fd = openSync(`/proc/${this.#pid}/statm`, 'r');
      const n = readSync(this.#fd, statBuffer, 0, statBuffer.length, 0);
      const pages = residentPages(statBuffer.toString('latin1', 0, n));
      return pages === undefined ? undefined : pages * pageBytes();
    } catch {
      this.close();
      return undefined;
    }
  }

  /** Lets go of the descriptor; later reads answer undefined. */
  close(): void {
    this.#closed = true;
    if (this.#fd < 0) return;
    try {
      closeSync(this.#fd);
    } catch {
      /* already closed */
    }
    this.#fd = -1;
  }
}

/** The resident field (the second) of a statm line, in pages. */
function residentPages(text: string): number | undefined {
  const pages = Number(text.split(' ', 2)[1]);
  return Number.isFinite(pages) && pages > 0 ? pages : undefined;
}

let pageSize = 0;

/**
 * Bytes per page as statm counts them. Node does not tell the page size; its
 * own RSS in bytes (from the same kernel counter, times the page size)
 * against its statm pages does, to the nearest power of two (4 KiB on x86-64,
 * 4, 16 or 64 KiB on arm64).
 */
function pageBytes(): number {
  if (pageSize === 0) {
    const pages = residentPages(readFileSync('/proc/self/statm', 'latin1')) ?? 1;
    pageSize = 2 ** Math.round(Math.log2(process.memoryUsage.rss() / pages));
  }
  return pageSize;
}

/** Resident set size of a process in bytes, or undefined if it is gone (exact, in kB, where stat's field counts pages of a size Node does not tell). */
export function readRss(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}
