/**
 * The daemon's data dir: made if missing (mode 0700), and refused when someone
 * else could plant or change what is in it (the token that runs code as this
 * user, the state, the pid file). Node's `mkdirSync(dir, { recursive: true })`
 * never returns for some paths (under /proc it spins on ENOENT forever), which
 * would leave `daemon start --data-dir <typo>` hanging at 100% CPU instead of
 * failing, so parents are made one level at a time.
 */
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { BadArgumentError } from '@corepool/protocol';

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
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new BadArgumentError(`cannot create the data dir ${dir}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * Makes the data dir if needed and checks it is safe and usable: a directory
 * owned by this user that no one else can write, and this user can. One others can only read (an old
 * 0755) is tightened to 0700, which also hides the files made in it before;
 * returns a line saying so, for the log.
 */
export function secureDataDir(dir: string): string | undefined {
  ensureDataDir(dir);
  const st = statSync(dir);
  if (!st.isDirectory())
    throw new BadArgumentError(`the data dir ${dir} is not a directory; pass --data-dir a directory (or a path to create)`);
  refuseForeign(st, 'the data dir', dir, 'pass a --data-dir of your own');
  if ((st.mode & 0o022) !== 0) {
    throw new BadArgumentError(
      `the data dir ${dir} is writable by other users (mode ${mode(st)}): they could replace its token or state; run: chmod 700 ${dir}`,
    );
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    // Said here: LMDB would report a read-only file system as a bare ENOENT from its mkdir.
    throw new BadArgumentError(`the daemon cannot write in its data dir ${dir}`, { cause: err });
  }
  if ((st.mode & 0o077) === 0) return undefined;
  chmodSync(dir, 0o700);
  return `the data dir ${dir} was readable by other users (mode ${mode(st)}); made it 0700`;
}

/** Throws unless `st` (of `what` at `path`) belongs to this user; `fix` says what to do instead. */
export function refuseForeign(st: Stats, what: string, path: string, fix: string): void {
  const me = process.getuid?.();
  if (me === undefined || st.uid === me) return;
  throw new BadArgumentError(`${what} ${path} belongs to ${userName(st.uid)}, not to ${userName(me)} who runs the daemon: ${fix}`);
}

/** Permission bits in octal, as chmod takes them. */
export function mode(st: Stats): string {
  return (st.mode & 0o777).toString(8).padStart(4, '0');
}

/** "nobody (uid 65534)", or "uid 65534" when /etc/passwd does not name it. */
function userName(uid: number): string {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(uid));
    if (line !== undefined) return `${line.split(':')[0]} (uid ${uid})`;
  } catch {
    /* no passwd file */
  }
  return `uid ${uid}`;
}
