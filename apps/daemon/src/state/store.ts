/**
 * store.ts - durability for the shared state, in LMDB (`<dataDir>/state`).
 *
 * The types (value.ts, queue.ts, dict.ts, lock.ts) keep their state in memory
 * and change it synchronously; this file writes their changes behind them with
 * group commit: every write made in one event-loop turn joins one batch, and
 * the batch is committed in one LMDB transaction at `setImmediate`.
 * `committed()` resolves once everything written so far is committed (and,
 * with fsync 'always', flushed to disk), so an operation awaits it before
 * replying: an acknowledged operation survives kill -9 of the daemon.
 *
 * fsync modes, like Redis's appendfsync (costs measured on this machine):
 *  - 'everysec' (default): the environment is opened with `noSync`; a batch
 *    is committed synchronously on the main thread (~6 us, data reaches the
 *    OS page cache, which survives a process crash) and `env.sync` runs off
 *    thread once a second when something changed (power loss loses <= ~1 s).
 *  - 'no': the same commits, never a forced sync (the OS flushes when it likes).
 *  - 'always': lmdb-js's asynchronous writes (its writer thread commits the
 *    batch with LMDB's ordinary synced commit: data fsynced before the meta
 *    page); a batch is acknowledged when that commit returns (~250-350 us).
 *    Not `overlappingSync`: measured here, it stalls pipelined commits for
 *    ~4 ms each (800 acks/s with 4 writers, against ~12,000 without it).
 *
 * lmdb-js segfaults if the environment is closed while an `env.sync` runs:
 * close() waits for it.
 *
 * Records whose serialised form changes often (a counter) are not written per
 * change: they are `touch`ed, and serialised once per batch by `record()`.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';

import { open, type Database, type Key, type RootDatabase } from 'lmdb';
import { InternalError } from '@corepool/protocol';

import { checkStateFile } from './store-check.js';

/** When the disk is flushed: after every batch, once a second, or when the OS likes. */
export type FsyncMode = 'always' | 'everysec' | 'no';

/** The fsync mode when none is given. */
export const DEFAULT_FSYNC: FsyncMode = 'everysec';

/** How often 'everysec' forces a sync. */
export const EVERYSEC_INTERVAL_MS = 1000;

/** A binary LMDB sub-database. */
export type Table = Database<Uint8Array, Key>;

/** Something whose record is serialised at commit time: the last state in a batch wins. */
export interface Dirty {
  readonly table: Table;
  readonly key: Key;
  /** The bytes to store now, or undefined to delete the record. */
  record(): Uint8Array | undefined;
}

interface Batch {
  tables: Table[];
  keys: Key[];
  values: (Uint8Array | undefined)[];
  dirty: Set<Dirty>;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** The LMDB environment of the shared state and its group commit. */
export class Store {
  /** value name -> [version: float64 BE][data bytes] */
  readonly values: Table;
  /** [queue name, seq] -> item bytes */
  readonly queues: Table;
  /** [dict name, key] -> value bytes */
  readonly dicts: Table;
  /** ['lock'] -> last fencing token; ['dict', name] -> dict version; ['dict-order', name, key] -> the key's insertion sequence number (float64 BE) */
  readonly meta: Table;
  /** [client instance, request id] -> a write's control-encoded reply, until the client acknowledges it */
  readonly replays: Table;
  readonly fsync: FsyncMode;

  readonly #root: RootDatabase<Uint8Array, Key>;
  #batch: Batch | null = null;
  #immediate: NodeJS.Immediate | null = null;
  /** 'always': the last batch handed to LMDB, until it is flushed. */
  #tail: Promise<void> | null = null;
  /** 'everysec': commits since the last sync. */
  #unsynced = false;
  #syncing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  private constructor(dataDir: string, fsync: FsyncMode) {
    this.fsync = fsync;
    const dir = path.join(dataDir, 'state');
    privateDir(dir);
    checkStateFile(dir);
    const options = {
      path: dir,
      // The mode of the files LMDB creates: lmdb-js passes it to mdb_env_open (default 0664), its types omit it.
      permissionsMode: 0o600,
      encoding: 'binary' as const,
      maxDbs: 8,
      overlappingSync: false,
      ...(fsync === 'always' ? {} : { noSync: true }),
    };
    this.#root = open<Uint8Array, Key>(options);
    const sub = (name: string): Table => this.#root.openDB<Uint8Array, Key>(name, { encoding: 'binary' });
    this.values = sub('values');
    this.queues = sub('queues');
    this.dicts = sub('dicts');
    this.meta = sub('meta');
    this.replays = sub('replays');
    // Files made by an earlier version, or under a permissive umask, are narrowed too.
    for (const f of ['data.mdb', 'lock.mdb']) chmodSync(path.join(dir, f), 0o600);
    if (fsync === 'everysec') {
      this.#timer = setInterval(() => this.#syncIfDirty(), EVERYSEC_INTERVAL_MS);
      this.#timer.unref();
    }
  }

  /** Opens (creating if needed) `<dataDir>/state`; DamagedStateError if its file is damaged (store-check.ts). */
  static open(dataDir: string, fsync: FsyncMode = DEFAULT_FSYNC): Store {
    return new Store(dataDir, fsync);
  }

  /** Queues a put into the current batch. */
  put(table: Table, key: Key, value: Uint8Array): void {
    const b = this.#open();
    b.tables.push(table);
    b.keys.push(key);
    b.values.push(value);
  }

  /** Queues a delete into the current batch. */
  remove(table: Table, key: Key): void {
    const b = this.#open();
    b.tables.push(table);
    b.keys.push(key);
    b.values.push(undefined);
  }

  /** Marks a record to be serialised when the current batch commits (after the batch's puts). */
  touch(d: Dirty): void {
    this.#open().dirty.add(d);
  }

  /**
   * Resolves when every write made so far is committed (flushed, with
   * 'always'). Already resolved when nothing is pending: reads await it too,
   * so nobody sees a state that a crash could still lose.
   */
  committed(): Promise<void> {
    if (this.#batch !== null) return this.#batch.promise;
    return this.#tail ?? RESOLVED;
  }

  /** Commits what is pending, syncs, and closes LMDB. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#batch !== null) this.#flush();
    await this.#tail?.catch(() => {});
    await this.#syncing;
    if (this.fsync !== 'always') await this.#sync().catch(() => {});
    await this.#root.close();
  }

  #open(): Batch {
    if (this.#batch !== null) return this.#batch;
    if (this.#closed) throw new InternalError('the state store is closed');
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Nobody may be awaiting a batch whose writes all cancelled out: never an unhandled rejection.
    promise.catch(() => {});
    this.#batch = { tables: [], keys: [], values: [], dirty: new Set(), promise, resolve, reject };
    this.#immediate = setImmediate(() => this.#flush());
    return this.#batch;
  }

  #flush(): void {
    const b = this.#batch;
    if (b === null) return;
    this.#batch = null;
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate);
      this.#immediate = null;
    }
    if (this.fsync === 'always') this.#flushAsync(b);
    else this.#flushSync(b);
  }

  /** everysec / no: one synchronous transaction on a noSync environment. */
  #flushSync(b: Batch): void {
    try {
      this.#root.transactionSync(() => {
        const { tables, keys, values } = b;
        for (let i = 0; i < keys.length; i++) {
          const v = values[i];
          if (v === undefined) tables[i]!.removeSync(keys[i]!);
          else tables[i]!.putSync(keys[i]!, v);
        }
        for (const d of b.dirty) {
          const v = d.record();
          if (v === undefined) d.table.removeSync(d.key);
          else d.table.putSync(d.key, v);
        }
      });
    } catch (err) {
      b.reject(new InternalError(`state commit failed: ${(err as Error).message}`, { cause: err }));
      return;
    }
    this.#unsynced = true;
    b.resolve();
  }

  /** always: lmdb-js batches these writes into one synced transaction; ack when it is committed. */
  #flushAsync(b: Batch): void {
    let last: Promise<boolean> | undefined;
    const { tables, keys, values } = b;
    for (let i = 0; i < keys.length; i++) {
      const v = values[i];
      last = v === undefined ? tables[i]!.remove(keys[i]!) : tables[i]!.put(keys[i]!, v);
    }
    for (const d of b.dirty) {
      const v = d.record();
      last = v === undefined ? d.table.remove(d.key) : d.table.put(d.key, v);
    }
    // Batches are acknowledged in order: this one waits for the one before it.
    const prev = (this.#tail ?? RESOLVED).catch(() => {});
    Promise.all([prev, last]).then(
      () => b.resolve(),
      (err: unknown) => b.reject(new InternalError(`state commit failed: ${(err as Error).message}`, { cause: err })),
    );
    const p = b.promise;
    this.#tail = p;
    const clear = (): void => {
      if (this.#tail === p) this.#tail = null;
    };
    p.then(clear, clear);
  }

  #syncIfDirty(): void {
    if (!this.#unsynced || this.#syncing !== null || this.#closed) return;
    this.#unsynced = false;
    this.#syncing = this.#sync()
      .catch(() => { this.#unsynced = true; })
      .finally(() => { this.#syncing = null; });
  }

  /** env.sync off the main thread. Never close the environment while one runs (lmdb-js segfaults). */
  #sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      (this.#root as unknown as { sync(cb: (err?: unknown) => void): void }).sync((err) => (err ? reject(err) : resolve()));
    });
  }
}

/** Makes `dir` mode 0700 (created so, or narrowed if it exists): the state is readable by its owner only. */
function privateDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  chmodSync(dir, 0o700);
}

/** A float64 (version, counter) as 8 bytes. */
export function encodeNumber(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, n);
  return b;
}

/** The float64 written by `encodeNumber`. */
export function decodeNumber(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getFloat64(0);
}
