/**
 * Why a detached daemon did not start, for `daemon start --detach` to print
 * instead of only naming its log: what the child wrote to daemon.log (its
 * `start-failed` line) and daemon.out (what escaped the logger) since the
 * start, read from where those files ended before it.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** The most of a file's new text read back. */
const TAIL_BYTES = 16 * 1024;

/** Where `files` end now: pass it to `startFailure` after a failed start. */
export function fileEnds(files: string[]): Map<string, number> {
  return new Map(files.map((f) => [f, sizeOf(f)]));
}

/** The reason the start failed, from what was written after `ends`; undefined if nothing says. */
export function startFailure(ends: Map<string, number>): string | undefined {
  const said: string[] = [];
  for (const [file, end] of ends) {
    const text = readFrom(file, end);
    for (const line of text.split('\n')) {
      const trimmed = line.trim();
      if (trimmed === '') continue;
      try {
        const entry = JSON.parse(trimmed) as { event?: unknown; message?: unknown; msg?: unknown; level?: unknown };
        if (entry.event === 'start-failed' && typeof entry.message === 'string') return entry.message;
        if (entry.level === 'error' || entry.level === 'fatal') said.push(String(entry.message ?? entry.msg));
      } catch {
        said.push(trimmed);
      }
    }
  }
  return said.length === 0 ? undefined : said.slice(-5).join('\n');
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The text after `from` (all of it if the file was rotated or truncated meanwhile), at most TAIL_BYTES from its end. */
function readFrom(file: string, from: number): string {
  const size = sizeOf(file);
  const start = Math.max(size < from ? 0 : from, size - TAIL_BYTES);
  if (size <= start) return '';
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
