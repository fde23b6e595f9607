/**
 * store-check.ts - refuses to start over a damaged state file. LMDB trusts
 * its file: a truncated or corrupted data.mdb makes the daemon die natively
 * (SIGBUS, SIGSEGV, SIGABRT) while it loads, or, truncated to nothing, start
 * empty over the data that was there. Before the store is opened, this checks
 * the file's two meta pages (LMDB's magic, a sane page size, a file long
 * enough for the last commit), then reads every record in a child process
 * (WALK), where a native crash is only a failed check. Either way the
 * daemon refuses to start, says which file and what to do, and leaves the file
 * as it was.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The child's script: open the environment read-only, read every record of every table (the
 * root's keys name them), exit 0. A damaged file crashes it (SIGBUS, SIGSEGV, an abort) or
 * makes LMDB throw. lmdb-js is loaded from where this daemon's copy is; the lock file it may
 * create is private like the daemon's (permissionsMode, which lmdb-js's types omit).
 */
const WALK = `
const { open } = require(process.argv[1]);
const root = open({ path: process.argv[2], readOnly: true, encoding: 'binary', maxDbs: 8, permissionsMode: 0o600 });
const names = [...root.getKeys()];
for (const name of names) {
  if (typeof name !== 'string') throw new Error('a table whose name is not a string: ' + String(name));
  const db = root.openDB(name, { encoding: 'binary' });
  for (const { value } of db.getRange()) if (value.length < 0) throw new Error('unreachable');
}
root.close();
`;
const LMDB = createRequire(import.meta.url).resolve('lmdb');

/** LMDB's magic number, in each meta page after the page header. */
const MAGIC = 0xbeefc0de;
/** Offsets in a meta page (lmdb-js's LMDB: a 24-byte page header with a txnid, then MDB_meta). */
const AT_MAGIC = 24;
const AT_PAGE_SIZE = 48;
const AT_LAST_PAGE = 144;
const AT_TXNID = 152;
const META_BYTES = 160;

/** How long reading every record may take before the file is called damaged (a loop in a corrupted tree). */
const WALK_TIMEOUT_MS = 5 * 60 * 1000;

/** A state file that cannot be opened safely; the message says where it is and what to do. */
export class DamagedStateError extends Error {
  constructor(file: string, reason: string) {
    super(
      `the state file ${file} is damaged: ${reason}. The daemon does not start over it, so nothing more is lost. ` +
        `Restore it from a backup, or move it aside to start with empty state: mv ${file} ${file}.damaged`,
    );
    this.name = 'DamagedStateError';
  }
}

/** Throws DamagedStateError when `<stateDir>/data.mdb` exists and is damaged; a missing file is a fresh store. */
export function checkStateFile(stateDir: string): void {
  const file = path.join(stateDir, 'data.mdb');
  if (!existsSync(file)) return;
  const reason = headerProblem(file) ?? walkProblem(stateDir);
  if (reason !== undefined) throw new DamagedStateError(file, reason);
}

function headerProblem(file: string): string | undefined {
  const size = statSync(file).size;
  if (size === 0) return 'it is empty (0 bytes)';
  if (size < META_BYTES) return `it is truncated (${size} bytes, shorter than LMDB's header)`;
  const first = read(file, 0, META_BYTES);
  const view = new DataView(first.buffer);
  if (view.getUint32(AT_MAGIC, true) !== MAGIC) return 'meta page 0 has no LMDB magic number';
  const pageSize = view.getUint32(AT_PAGE_SIZE, true);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
    return `meta page 0 gives an impossible page size (${pageSize})`;
  if (size < 2 * pageSize) return `it is truncated (${size} bytes, shorter than its two meta pages)`;
  const second = new DataView(read(file, pageSize, META_BYTES).buffer);
  if (second.getUint32(AT_MAGIC, true) !== MAGIC) return 'meta page 1 has no LMDB magic number';
  // The newer commit's meta page says how many pages the file holds.
  const newer = second.getBigUint64(AT_TXNID, true) > view.getBigUint64(AT_TXNID, true) ? second : view;
  const needed = (Number(newer.getBigUint64(AT_LAST_PAGE, true)) + 1) * pageSize;
  if (size < needed) return `it is truncated (${size} bytes; its last commit needs ${needed})`;
  return undefined;
}

function walkProblem(stateDir: string): string | undefined {
  const r = spawnSync(process.execPath, ['-e', WALK, LMDB, stateDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: WALK_TIMEOUT_MS,
    encoding: 'utf8',
  });
  if (r.error !== undefined && r.signal === null) return `it could not be checked (${r.error.message})`;
  if (r.signal !== null)
    return r.error !== undefined
      ? `reading it did not finish within ${WALK_TIMEOUT_MS / 1000} s`
      : `reading every record crashed LMDB (${r.signal})`;
  if (r.status !== 0) {
    const last =
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => /error/i.test(l))
        .at(-1) ?? `exit code ${r.status}`;
    return `reading every record failed (${last.trim()})`;
  }
  return undefined;
}

function read(file: string, position: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, length, position);
  } finally {
    closeSync(fd);
  }
  return buf;
}
