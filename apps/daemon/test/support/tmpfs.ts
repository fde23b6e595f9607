/**
 * A small tmpfs to fill from outside, for the disk-full tests (tests run as
 * root here; elsewhere the mount fails and those tests are skipped). Mode 0700: the daemon
 * refuses a data dir others can write, as a fresh tmpfs (1777) is.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Mounts a tmpfs of `mb` MiB on a fresh dir, or says why it cannot. */
export function mountTmpfs(mb: number): { dir: string } | { skip: string } {
  const dir = mkdtempSync(join(tmpdir(), 'corepool-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m,mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
    return { dir };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs (${(err as Error).message.split('\n')[0]})` };
  }
}

export function unmount(dir: string): void {
  execFileSync('umount', [dir], { stdio: 'pipe' });
  rmSync(dir, { recursive: true, force: true });
}

/** Why tmpfs tests cannot run here, or undefined when they can. */
export function tmpfsUnavailable(): string | undefined {
  const probe = mountTmpfs(1);
  if ('skip' in probe) return probe.skip;
  unmount(probe.dir);
  return undefined;
}

/** Takes every free byte of the file system under `dir` with one file; returns its path. */
export function fill(dir: string): string {
  const filler = join(dir, 'filler');
  // The daemon writes there too: what statfs said was free may be less by the time of the write.
  for (let attempt = 0; ; attempt++) {
    const s = statfsSync(dir);
    try {
      writeFileSync(filler, Buffer.alloc(Number(s.bavail * s.bsize)));
      return filler;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC' || attempt === 20) throw err;
      rmSync(filler, { force: true });
    }
  }
}
