/**
 * Creates the daemon's data dir (mode 0700) and its missing parents, one
 * level at a time. Node's `mkdirSync(dir, { recursive: true })` never returns
 * for some paths (under /proc it spins on ENOENT forever), which would leave
 * `daemon start --data-dir <typo>` hanging at 100% CPU instead of failing.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Makes `dir` and any missing parents; throws the system's error (ENOENT, EACCES...) when it cannot. */
export function ensureDataDir(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode: 0o700 });
    } catch (err) {
      // Made meanwhile (another daemon starting): fine; anything else is the answer.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create the data dir ${dir}: ${(err as Error).message}`, { cause: err });
    }
  }
}
