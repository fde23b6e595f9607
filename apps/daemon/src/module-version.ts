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
 * a larger one is read and hashed off the thread, one at a time
 * (moduleVersionLater), while its batch waits (16 MiB took 100 ms to read and
 * hash here, and a client that touched a 1 GB file before each submit stalled
 * every other app 5 s). Versions are kept per path while the file's identity
 * and times stay the same, so a batch open costs a stat.
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
const kept = new Map<string, { stamp: string; version: string }>();
/** The hash being made off the thread, and those waiting their turn: one at a time (each holds the file in memory). */
let hashing: Promise<unknown> = Promise.resolve();
const inFlight = new Map<string, Promise<string | undefined | BadTaskError>>();

/** What identifies one state of a file without reading it: a change to its contents changes its ctime. */
function stampOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** Why a file is no task module, if it is not one. */
function refused(path: string, st: BigIntStats): BadTaskError | undefined {
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

function pathOf(url: string): string | undefined {
  try {
    return fileURLToPath(url);
  } catch {
    return undefined;
  }
}

function keep(path: string, stamp: string, version: string): void {
  if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value!);
  kept.set(path, { stamp, version });
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
  const stamp = stampOf(st);
  const known = kept.get(path);
  if (known !== undefined && known.stamp === stamp) return known.version;
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
    if (stampOf(fstatSync(fd, { bigint: true })) === read) keep(path, read, version);
    return version;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The file at `url`'s version, hashed off the primary's thread (its read and the hash in libuv's pool), one file at a time. */
export function moduleVersionLater(url: string): Promise<string | undefined | BadTaskError> {
  const path = pathOf(url);
  if (path === undefined) return Promise.resolve(undefined);
  const running = inFlight.get(path);
  if (running !== undefined) return running;
  const turn = hashing.then(() => hashOffThread(path));
  const done = turn.finally(() => inFlight.delete(path));
  hashing = done.catch(() => {});
  inFlight.set(path, done);
  return done;
}

async function hashOffThread(path: string): Promise<string | undefined | BadTaskError> {
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
    if (stampOf(await file.stat({ bigint: true })) === read) keep(path, read, version);
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
