/**
 * The version of a module task's file: a hash of its contents, so that every
 * item of a batch runs the code that was on disk when the batch opened. The
 * primary stamps each module batch with it; a worker imports that version
 * (`url?v=<version>`, a module instance of its own) and refuses to run a batch
 * whose file has changed since (E_CODE_REPLACED) rather than run it on other
 * code. The same contents give the same version on every host (a cluster's
 * lent workers check it against their own copy) and across a rewrite of the
 * same code (one module instance per version in each worker).
 *
 * Any client names the path, and the primary versions it on its one thread
 * when a batch opens, so that must cost little whatever the path is: a FIFO or
 * a device (reading one blocks forever or never ends: one submit wedged the
 * daemon for every app) is refused, as is anything but a regular file, and a
 * file over MAX_MODULE_BYTES; a file up to SYNC_HASH_BYTES is hashed at once;
 * a larger one is read and hashed off the thread (module-hashes.ts: one file
 * at a time, taken in turn between the clients that wait), while its batch
 * waits (16 MiB took 100 ms to read and hash here, and a client that touched
 * a 1 GB file before each submit stalled every other app 5 s). Versions are
 * kept by the file's identity and times, whatever path names it (one file
 * spelled `//a.mjs`, `/a.mjs` or through a link is one entry), least recently
 * used dropped first, so a batch open costs a stat.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type BigIntStats } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BadTaskError } from '@corepool/protocol';
import { sha256 } from '@corepool/protocol/internal';

/** Files up to this size are hashed at once; larger ones off the thread, their batch waiting. */
export const SYNC_HASH_BYTES = 1024 * 1024;
/** The largest task module file (a bundle of that size is read whole by every worker that imports it). */
export const MAX_MODULE_BYTES = 64 * 1024 * 1024;

/** Files whose version is kept (a daemon serves a few task modules; a bound, not a cache policy). */
const MAX_KEPT = 1024;
/** By stamp (stampOf), least recently used first. */
const kept = new Map<string, string>();

/** What identifies one state of a file without reading it: a change to its contents changes its ctime. */
export function stampOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** The version kept for a file in the state `stamp` names (now the most recently used), if any. */
export function keptVersion(stamp: string): string | undefined {
  const version = kept.get(stamp);
  if (version !== undefined) {
    kept.delete(stamp);
    kept.set(stamp, version);
  }
  return version;
}

/** Why a file is no task module, if it is not one. */
export function refused(path: string, st: BigIntStats): BadTaskError | undefined {
  if (!st.isFile()) {
    const kind = st.isFIFO()
      ? 'a FIFO'
      : st.isCharacterDevice() || st.isBlockDevice()
        ? 'a device'
        : st.isDirectory()
          ? 'a directory'
          : 'not a regular file';
    return new BadTaskError(`the task module ${JSON.stringify(path)} is ${kind}: a module task must be a regular file`);
  }
  if (st.size > MAX_MODULE_BYTES)
    return new BadTaskError(
      `the task module ${JSON.stringify(path)} has ${st.size} bytes, over the ${MAX_MODULE_BYTES} a task module may have`,
    );
  return undefined;
}

export function pathOf(url: string): string | undefined {
  try {
    return fileURLToPath(url);
  } catch {
    return undefined;
  }
}

function keep(stamp: string, version: string): void {
  kept.delete(stamp);
  if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value!);
  kept.set(stamp, version);
}

/**
 * The version of the file at `url` now; undefined when it is not a readable local file (the import then says
 * why); BadTaskError when it cannot be a task module; 'later' when it is too large to hash on the primary's
 * thread (moduleVersionLater hashes it off the thread). `anySize`: hash it here whatever its size (a worker,
 * whose own time it is).
 */
export function moduleVersion(url: string, anySize = false): string | undefined | BadTaskError | 'later' {
  const path = pathOf(url);
  if (path === undefined) return undefined;
  let st: BigIntStats;
  try {
    st = statSync(path, { bigint: true });
  } catch {
    return undefined;
  }
  const no = refused(path, st);
  if (no !== undefined) return no;
  const known = keptVersion(stampOf(st));
  if (known !== undefined) return known;
  if (!anySize && st.size > SYNC_HASH_BYTES) return 'later';
  let fd: number;
  try {
    // Without blocking, and checked again on the open file: the path may have been swapped for a FIFO since the stat.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const now = fstatSync(fd, { bigint: true });
    const no = refused(path, now);
    if (no !== undefined) return no;
    if (!anySize && now.size > SYNC_HASH_BYTES) return 'later';
    const buf = Buffer.allocUnsafe(Number(now.size));
    let n = 0;
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, n)) > 0;) n += got;
    const version = versionOf(buf.subarray(0, n));
    // Kept only if the file stayed as stat'd throughout: what was read is then what that stamp names.
    const read = stampOf(now);
    if (stampOf(fstatSync(fd, { bigint: true })) === read) keep(read, version);
    return version;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The version of the file at `path`, read and hashed in libuv's pool (off the primary's thread), kept. */
export async function hashOffThread(path: string): Promise<string | undefined | BadTaskError> {
  let file;
  try {
    file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await file.stat({ bigint: true });
    const no = refused(path, st);
    if (no !== undefined) return no;
    const bytes = await file.readFile();
    const version = Buffer.from(await crypto.subtle.digest('SHA-256', bytes))
      .toString('base64url')
      .slice(0, 22);
    const read = stampOf(st);
    if (stampOf(await file.stat({ bigint: true })) === read) keep(read, version);
    return version;
  } catch {
    return undefined;
  } finally {
    await file.close().catch(() => {});
  }
}

/** The version of a file's contents. */
function versionOf(bytes: Uint8Array): string {
  return sha256(bytes, 'base64url').slice(0, 22);
}
