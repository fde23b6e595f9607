/**
 * store-walk.ts - run as a child process by store-check.ts, never imported:
 * opens the state environment read-only and reads every record of every
 * table, so that a damaged file crashes this process (LMDB reads a mapped
 * file: SIGBUS, SIGSEGV or an abort) instead of the daemon. Exit 0: readable.
 */
import { open, type Key } from 'lmdb';

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: store-walk <state dir>\n');
  process.exit(2);
}
// permissionsMode: a lock.mdb this creates is private like the daemon's (lmdb-js's types omit the option).
const options = { path: dir, readOnly: true, encoding: 'binary' as const, maxDbs: 8, permissionsMode: 0o600 };
const root = open<Uint8Array, Key>(options);
let records = 0;
// The root's keys name its tables (collected first: a table is opened outside the root's iteration).
const names = [...root.getKeys()];
for (const name of names) {
  if (typeof name !== 'string') throw new Error(`a table with a name that is not a string: ${String(name)}`);
  const db = root.openDB<Uint8Array, Key>(name, { encoding: 'binary' });
  for (const { value } of db.getRange()) if (value.length >= 0) records++;
}
await root.close();
process.stdout.write(`${records}\n`);
