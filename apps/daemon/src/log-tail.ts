/**
 * `corepool daemon logs`: the last lines of a detached daemon's log, and with
 * --follow the lines written after, across rotations. The log is read from
 * the live file and, for lines the live one no longer holds, from the rotated
 * ones (daemon.log.1 is the newest). Following polls: it keeps the file it
 * reads open, so when the daemon rotates (renames it to daemon.log.1 and opens
 * a new daemon.log) the rest of the old file is still read before the new one.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { rotatedName } from './log-file.js';

/** Rotated files looked at for the last lines; past that the log is read no further back. */
const MAX_ROTATED = 1000;
/** Most bytes read from the end of one file for the last lines. */
const TAIL_BYTES = 8 * 1024 * 1024;
const POLL_MS = 200;

/** The last `n` complete lines of the log in `dataDir`, oldest first (none if it has no log). */
export function lastLines(dataDir: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i <= MAX_ROTATED && out.length < n; i++) {
    const text = readTail(join(dataDir, rotatedName(i)), TAIL_BYTES);
    if (text === undefined) {
      if (i === 0) continue; // no live file (yet): the rotated ones may still hold lines
      break;
    }
    const lines = text.split('\n').filter((l) => l !== '');
    out.unshift(...lines.slice(Math.max(0, lines.length - (n - out.length))));
  }
  return out;
}

/** The rotated files newer than the one with inode `ino` (which is daemon.log.k): daemon.log.(k-1) … daemon.log.1. */
function rotatedSince(dataDir: string, ino: number): string[] {
  const newer: string[] = [];
  for (let i = 1; i <= MAX_ROTATED; i++) {
    const path = join(dataDir, rotatedName(i));
    let at: number;
    try {
      at = statSync(path).ino;
    } catch {
      return []; // the old file is gone already (past --log-max-files): nothing known to be between
    }
    if (at === ino) return newer.reverse();
    newer.push(path);
  }
  return [];
}

function readTail(path: string, max: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - max);
    const buf = Buffer.alloc(size - start);
    const got = readSync(fd, buf, 0, buf.length, start);
    let text = buf.toString('utf8', 0, got);
    // A partial first line (cut by `max`) is dropped, as is a last line still being written.
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    return text.slice(0, text.lastIndexOf('\n') + 1);
  } finally {
    closeSync(fd);
  }
}

/**
 * Calls `onLine` for each line written to the live log from its current end on,
 * until `signal` aborts. Resolves then.
 */
export async function follow(dataDir: string, onLine: (line: string) => void, signal: AbortSignal): Promise<void> {
  const path = join(dataDir, rotatedName(0));
  let fd: number | undefined;
  let ino = -1;
  let pos = 0;
  let partial = '';
  const open = (fromEnd: boolean): void => {
    try {
      fd = openSync(path, 'r');
    } catch {
      fd = undefined;
      return;
    }
    const st = fstatSync(fd);
    ino = st.ino;
    pos = fromEnd ? st.size : 0;
  };
  const drain = (): void => {
    if (fd === undefined) return;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, pos);
      if (got <= 0) break;
      pos += got;
      const text = partial + buf.toString('utf8', 0, got);
      const last = text.lastIndexOf('\n');
      partial = text.slice(last + 1);
      if (last >= 0) for (const line of text.slice(0, last).split('\n')) if (line !== '') onLine(line);
    }
  };
  open(true);
  while (!signal.aborted) {
    drain();
    let now: number | undefined;
    try {
      now = statSync(path).ino;
    } catch {
      now = undefined; // between the rename and the new file: the next poll finds it
    }
    if (now !== undefined && now !== ino) {
      // Rotated: what the old file still held has just been read. If it rotated more than once since
      // the last poll, the files between it and the new live one are read whole, oldest first.
      if (fd !== undefined) closeSync(fd);
      partial = '';
      for (const between of rotatedSince(dataDir, ino)) {
        fd = openSync(between, 'r');
        pos = 0;
        drain();
        closeSync(fd);
        partial = '';
      }
      open(false);
      continue;
    }
    await new Promise<void>((r) => {
      // The listener goes with its poll: one left per poll would pile up on the signal (a leak, and Node's warning).
      const wake = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', wake);
        r();
      };
      const t = setTimeout(wake, POLL_MS);
      signal.addEventListener('abort', wake, { once: true });
    });
  }
  if (fd !== undefined) closeSync(fd);
}
