/**
 * The version of a module task's file, so that every item of a batch runs the
 * code that was on disk when the batch opened. The primary stamps each module
 * batch with it; a worker imports that version (`url?v=<version>`, a module
 * instance of its own) and refuses to run a batch whose file has changed since
 * (E_CODE_REPLACED) rather than run it on other code.
 *
 * Any client names the path, and the primary computes this on its one thread
 * when a batch opens, so it must cost little whatever the path is: a FIFO or a
 * device (reading one blocks forever or never ends: one submit wedged the
 * daemon for every app) is refused, as anything but a regular file is; a file
 * up to CONTENT_HASH_BYTES is hashed (a rebuild that writes the same code keeps
 * its version, and its module instance); a larger one is versioned by its
 * identity and change times instead of being read (16 MiB took 100 ms to read
 * and hash, and a client that touched the file before each submit stalled every
 * other app). Versions are kept per path while the file's identity and times
 * stay the same, so a batch open costs a stat.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type BigIntStats } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BadTaskError } from '@corepool/protocol';
import { sha256 } from '@corepool/protocol/internal';

/** Files up to this size are versioned by their contents; larger ones by their inode and change times. */
export const CONTENT_HASH_BYTES = 1024 * 1024;

/** Files whose version is kept (a daemon serves a few task modules; a bound, not a cache policy). */
const MAX_KEPT = 1024;
const kept = new Map<string, { stamp: string; version: string }>();

/** What identifies one state of a file without reading it: a change to its contents changes its ctime. */
function stampOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

function notRegular(path: string, st: BigIntStats): BadTaskError {
  const kind = st.isFIFO()
    ? 'a FIFO'
    : st.isCharacterDevice() || st.isBlockDevice()
      ? 'a device'
      : st.isDirectory()
        ? 'a directory'
        : 'not a regular file';
  return new BadTaskError(`the task module ${JSON.stringify(path)} is ${kind}: a module task must be a regular file`);
}

/**
 * The version of the file at `url` now; undefined when it is not a readable local file (the import then says
 * why); BadTaskError when it is something a task module cannot be (a FIFO, a device, a directory).
 */
export function moduleVersion(url: string): string | undefined | BadTaskError {
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch {
    return undefined;
  }
  let st: BigIntStats;
  try {
    st = statSync(path, { bigint: true });
  } catch {
    return undefined;
  }
  if (!st.isFile()) return notRegular(path, st);
  const stamp = stampOf(st);
  const known = kept.get(path);
  if (known !== undefined && known.stamp === stamp) return known.version;
  let version: string | undefined | BadTaskError;
  if (st.size > CONTENT_HASH_BYTES) version = `s${sha256(stamp, 'base64url').slice(0, 21)}`;
  else {
    version = contentVersion(path);
    if (typeof version !== 'string') return version;
  }
  if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value!);
  kept.set(path, { stamp, version });
  return version;
}

/**
 * The hash of a small regular file's contents. Opened without blocking and checked again on the open file:
 * the path may have been swapped for a FIFO since the stat, and a file grown past the bound is read no further.
 */
function contentVersion(path: string): string | undefined | BadTaskError {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) return notRegular(path, st);
    const buf = Buffer.allocUnsafe(Math.min(Number(st.size), CONTENT_HASH_BYTES) + 1);
    let n = 0;
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, n)) > 0;) n += got;
    // Grown since the stat: versioned as a large file is, from what the open file's stat says now.
    if (n > Number(st.size)) return `s${sha256(stampOf(fstatSync(fd, { bigint: true })), 'base64url').slice(0, 21)}`;
    return sha256(buf.subarray(0, n), 'base64url').slice(0, 22);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
