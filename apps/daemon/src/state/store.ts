/**
 * store.ts - durability for the shared state, in LMDB (`<dataDir>/state`).
 *
 * The types (value.ts, queue.ts, dict.ts, lock.ts) keep their state in memory
 * and change it synchronously; this file writes their changes behind them with
 * group commit: every write made in one event-loop turn joins one batch, and
 * the batch is written at `setImmediate`. `committed()` resolves once
 * everything written so far is written (and, with fsync 'always', flushed to
 * disk), so an operation awaits it before replying: an acknowledged operation
 * survives kill -9 of the daemon.
 *
 * fsync modes, like Redis's appendfsync (costs measured on this machine):
 *  - 'everysec' (default): a batch is appended to the redo journal as one
 *    frame (journal.ts: ~3 us, where an LMDB commit costs 6-14; the data
 *    reaches the OS page cache, which survives a process crash). Once a
 *    second, a checkpoint commits the last state of every record written
 *    since to LMDB, opened with `noSync`, in one transaction with the
 *    journal's sequence number, and `env.sync` runs off thread before the
 *    journal file it covers is emptied (power loss loses <= ~1 s); a batch
 *    of 64 KiB or more is committed straight to LMDB (checkpoints.ts). A
 *    start applies the frames LMDB lacks before anything reads it.
 *  - 'no': the same journal and checkpoints, never a forced sync.
 *  - 'always': lmdb-js's asynchronous writes (its writer thread commits the
 *    batch with LMDB's ordinary synced commit: data fsynced before the meta
 *    page); a batch is acknowledged when that commit returns (~250-350 us).
 *    Not `overlappingSync`: measured here, it stalls pipelined commits for
 *    ~4 ms each (800 acks/s with 4 writers, against ~12,000 without it).
 *
 * lmdb-js segfaults if the environment is closed while an `env.sync` runs:
 * close() waits for it.
 *
 * A commit that fails (disk full: LMDB's short write is EIO, the journal's
 * ENOSPC; a full map) is rolled back: `onFailed` hears the writes of every
 * batch that failed, so the types reload those records from what LMDB has
 * committed (with the journal's pending writes applied in a transaction that
 * is then aborted), and each write of those batches fails with E_NO_SPACE
 * (any other failure: E_INTERNAL). The store stays open; the next batch commits once space returns. With 'always'
 * one batch is in LMDB's hands at a time (the next one gathers meanwhile), so
 * a failed batch never has a later one committed on top of its in-memory
 * state: the batch gathering behind it fails with it, untried.
 *
 * Records whose serialised form changes often (a counter) are not written per
 * change: they are `touch`ed, and serialised once per batch by `record()`.
 *
 * Just over 400 lines: group commit, its fsync modes, the disk-full rollback
 * and the record arrays one batch hands to the next all turn on the same
 * batch. The journal's write path and checkpoints are checkpoints.ts, its
 * files journal.ts, the disk's free space disk-room.ts, the damage check
 * store-check.ts.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';

import { open, type Database, type Key, type RootDatabase } from 'lmdb';
import { InternalError, NoSpaceError } from '@corepool/protocol';

import { Checkpoints, type WriteOp } from './checkpoints.js';
import { DiskRoom } from './disk-room.js';
import { DEFAULT_FSYNC, type FsyncMode } from './fsync-modes.js';
import { checkStateFile } from './store-check.js';

export { DEFAULT_FSYNC, FSYNC_MODES, type FsyncMode } from './fsync-modes.js';
export { DISK_RESERVE } from './disk-room.js';

/** How often the journal is checkpointed into LMDB (and, with 'everysec', LMDB synced). */
export const EVERYSEC_INTERVAL_MS = 1000;

/**
 * A batch of this many bytes or more is committed to LMDB at once, with everything pending,
 * instead of journaled: past the checkpoint's 64 KiB it would be written twice, to the journal
 * and at once to LMDB (beside a flood of 256 KB writes, the neighbour's adds are as before).
 */
const DIRECT_BYTES = 64 * 1024;

/**
 * And a batch of this many records: journaled, it would be checkpointed at once anyway (past 64
 * records), after its frame was encoded and each record indexed by key. Deleting a queue of
 * 300,000 items took 1.1 s of the primary that way, 3.5 us an item.
 */
const DIRECT_RECORDS = 1024;

/** A binary LMDB sub-database. */
export type Table = Database<Uint8Array, Key>;

/** Something whose record is serialised at commit time: the last state in a batch wins. */
export interface Dirty {
  readonly table: Table;
  readonly key: Key;
  /** The bytes to store now, or undefined to delete the record. */
  record(): Uint8Array | undefined;
}

/** The writes of a failed batch: puts and deletes by table and key, and the records serialised at commit. */
export interface FailedWrites {
  readonly tables: readonly Table[];
  readonly keys: readonly Key[];
  readonly dirty: ReadonlySet<Dirty>;
}

/** Puts (a value) and deletes (undefined) by table and key, in order. */
interface Writes {
  tables: Table[];
  keys: Key[];
  values: (Uint8Array | undefined)[];
}

/** The writes of one event-loop turn, committed in one transaction; its promise is `committed()`'s. */
interface WriteBatch {
  /** Made at the batch's first put or delete: most turns only touch records (a counter, a kept reply). */
  writes: Writes | null;
  dirty: Set<Dirty>;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** Past this many records, the arrays they were serialised into are not kept for the next batch. */
const KEPT_RECORD_SLOTS = 4096;

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
  /** [client instance, request id] -> a large kept reply, one record each (replay-log.ts); the earlier layout's small ones move into replayLog at start */
  readonly replays: Table;
  /** [client instance, segment] -> the kept replies of that segment's request ids (replay-log.ts) */
  readonly replayLog: Table;
  readonly fsync: FsyncMode;
  /** Hears the writes of a batch that failed, before its writers do (SharedState rolls the types back). */
  onFailed: (writes: FailedWrites) => void = () => {};

  readonly #root: RootDatabase<Uint8Array, Key>;
  #batch: WriteBatch | null = null;
  #immediate: NodeJS.Immediate | null = null;
  readonly #flushLater = (): void => this.#flush();
  /**
   * The dirty records of the batch being flushed, serialised: filled up to #recorded and
   * emptied after the commit, batch after batch (a turn with one write made three arrays).
   */
  #records: Writes = newWrites();
  #recorded = 0;
  /** 'always': the batch in LMDB's hands, until it is flushed. */
  #inflight: WriteBatch | null = null;
  /** 'everysec' and 'no': the redo journal and its checkpoints into LMDB. */
  readonly #checkpoints: Checkpoints;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #dir: string;
  readonly #room: DiskRoom;

  private constructor(dataDir: string, fsync: FsyncMode) {
    this.fsync = fsync;
    const dir = path.join(dataDir, 'state');
    this.#dir = dir;
    this.#room = new DiskRoom(dir);
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
    this.replayLog = sub('replay-log');
    // Files made by an earlier version, or under a permissive umask, are narrowed too.
    for (const f of ['data.mdb', 'lock.mdb']) chmodSync(path.join(dir, f), 0o600);
    try {
      // Every mode recovers: a daemon restarted with 'always' after a crash under 'everysec' too.
      this.#checkpoints = Checkpoints.open({
        root: this.#root,
        // The order is the journal's file format: append only.
        tables: [this.values, this.queues, this.dicts, this.meta, this.replays, this.replayLog],
        meta: this.meta,
        dir,
        room: this.#room,
        sync: fsync === 'everysec' ? () => this.#sync() : undefined,
        journaled: fsync !== 'always',
      });
    } catch (err) {
      this.#root.close().catch(ignore);
      throw err;
    }
    if (fsync !== 'always') {
      this.#timer = setInterval(() => this.#checkpoints.tick(), EVERYSEC_INTERVAL_MS);
      this.#timer.unref();
    }
  }

  /** Opens (creating if needed) `<dataDir>/state`; DamagedStateError if its file is damaged (store-check.ts). */
  static open(dataDir: string, fsync: FsyncMode = DEFAULT_FSYNC): Store {
    return new Store(dataDir, fsync);
  }

  /** What the start found wrong with the journal (a damaged frame, a full disk), for the daemon's log. */
  get warnings(): readonly string[] {
    return this.#checkpoints.warnings;
  }

  /**
   * Runs `read` with LMDB as the journal has it (the writes not yet
   * checkpointed applied in a transaction that is then aborted): the types'
   * loads at start and their reloads after a failed write read this way.
   */
  read<T>(read: () => T): T {
    return this.#checkpoints.withPending(read);
  }

  /** Queues a put into the current batch. */
  put(table: Table, key: Key, value: Uint8Array): void {
    const w = (this.#open().writes ??= newWrites());
    w.tables.push(table);
    w.keys.push(key);
    w.values.push(value);
  }

  /** Queues a delete into the current batch. */
  remove(table: Table, key: Key): void {
    const w = (this.#open().writes ??= newWrites());
    w.tables.push(table);
    w.keys.push(key);
    w.values.push(undefined);
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
    return this.#inflight?.promise ?? RESOLVED;
  }

  /** Whether a write of `bytes` alone has room on the disk (DiskRoom.fits); the batch it joins is checked again at its commit. */
  fits(bytes: number): boolean {
    return this.#room.fits(bytes + this.#checkpoints.pendingBytes);
  }

  /** Commits what is pending, syncs, and closes LMDB. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    while (this.#batch !== null || this.#inflight !== null) {
      if (this.#inflight === null) this.#flush();
      await this.#inflight?.promise.catch(() => {});
    }
    await this.#checkpoints.close();
    if (this.fsync !== 'always') await this.#sync().catch(() => {});
    await this.#root.close();
  }

  #open(): WriteBatch {
    if (this.#batch !== null) return this.#batch;
    if (this.#closed) throw new InternalError('the state store is closed');
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Nobody may be awaiting a batch whose writes all cancelled out: never an unhandled rejection.
    promise.catch(ignore);
    this.#batch = { writes: null, dirty: new Set(), promise, resolve, reject };
    this.#immediate = setImmediate(this.#flushLater);
    return this.#batch;
  }

  #flush(): void {
    const b = this.#batch;
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate);
      this.#immediate = null;
    }
    // 'always': the batch waits for the one in LMDB's hands (#flushAsync flushes it then).
    if (b === null || this.#inflight !== null) return;
    this.#batch = null;
    // The last state of each dirty record is written after the puts (serialised once, here).
    const r = this.#records;
    let n = 0;
    let bytes = 0;
    for (const d of b.dirty) {
      const v = d.record();
      r.tables[n] = d.table;
      r.keys[n] = d.key;
      r.values[n++] = v;
      if (v !== undefined) bytes += v.length;
    }
    this.#recorded = n;
    const w = b.writes;
    if (w !== null) for (const v of w.values) bytes += v === undefined ? 0 : v.length;
    try {
      // A write must also leave room for the checkpoint that will carry it with what is pending (else small
      // writes would go on while every checkpoint is refused, and the pending set grow); 'always' has none.
      const cp = this.#checkpoints;
      const records = n + (w === null ? 0 : w.keys.length);
      if (!this.#room.has(bytes + cp.pendingBytes, records + cp.pendingRecords)) {
        this.#failed([b], new NoSpaceError(`the disk under ${this.#dir} is full: the write was not applied`));
        return;
      }
      if (this.fsync === 'always') this.#flushAsync(b);
      else this.#flushJournal(b, bytes >= DIRECT_BYTES || records >= DIRECT_RECORDS);
    } finally {
      this.#clearRecords();
    }
  }

  /** Lets go of the serialised records (a value's bytes may be large); their arrays serve the next batch. */
  #clearRecords(): void {
    const r = this.#records;
    if (r.keys.length > KEPT_RECORD_SLOTS) {
      this.#records = newWrites();
    } else {
      for (let i = 0; i < this.#recorded; i++) {
        r.values[i] = undefined;
        r.keys[i] = NO_KEY;
      }
    }
    this.#recorded = 0;
  }

  /** everysec / no: the batch as one journal frame, or (a large one) committed straight to LMDB with what is pending. */
  #flushJournal(b: WriteBatch, direct: boolean): void {
    const visit = (write: WriteOp): void => {
      if (b.writes !== null) eachWrite(b.writes, b.writes.keys.length, write);
      eachWrite(this.#records, this.#recorded, write);
    };
    try {
      if (direct) this.#checkpoints.commitWith(visit);
      else this.#checkpoints.append(visit);
    } catch (err) {
      this.#failed([b], err);
      return;
    }
    b.resolve();
  }

  /** always: lmdb-js commits these writes in one synced transaction; ack when it is committed. */
  #flushAsync(b: WriteBatch): void {
    guardCommitRejections();
    const writes: Promise<boolean>[] = [];
    const queue = (table: Table, key: Key, v: Uint8Array | undefined): void => {
      writes.push(v === undefined ? table.remove(key) : table.put(key, v));
    };
    if (b.writes !== null) eachWrite(b.writes, b.writes.keys.length, queue);
    eachWrite(this.#records, this.#recorded, queue);
    this.#inflight = b;
    Promise.all(writes).then(
      () => {
        this.#inflight = null;
        b.resolve();
        if (this.#batch !== null) this.#flush();
      },
      (err: unknown) => {
        this.#inflight = null;
        // The batch gathered meanwhile was applied in memory on top of this one: it fails too, untried.
        const next = this.#batch;
        this.#batch = null;
        if (this.#immediate !== null) clearImmediate(this.#immediate);
        this.#immediate = null;
        this.#failed(next === null ? [b] : [b, next], err);
      },
    );
  }

  /** Rolls the failed batches back (onFailed) and fails their writers: E_NO_SPACE when the disk or map is full. */
  #failed(batches: WriteBatch[], err: unknown): void {
    // lmdb-js rejects a second promise with the cause; it is ours to handle.
    (err as { commitError?: Promise<unknown> }).commitError?.catch(() => {});
    this.#checkpoints.withPending(() => {
      for (const b of batches) {
        try {
          this.onFailed({ tables: b.writes?.tables ?? [], keys: b.writes?.keys ?? [], dirty: b.dirty });
        } catch {
          // A rollback that fails leaves the writers' error as the answer; the next load is exact.
        }
      }
    });
    const e = this.#room.commitError(err);
    for (const b of batches) b.reject(e);
  }

  /** env.sync off the main thread. Never close the environment while one runs (lmdb-js segfaults). */
  #sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      (this.#root as unknown as { sync(cb: (err?: unknown) => void): void }).sync((err) => (err ? reject(err) : resolve()));
    });
  }
}

/** A do-nothing rejection handler. state/ builds on its own (the crash tests compile it alone), so not ../ignore.ts. */
function ignore(): void {}

function newWrites(): Writes {
  return { tables: [], keys: [], values: [] };
}

/** The first `n` writes of `w`, in order: a put (a value) or a delete (undefined). */
function eachWrite(w: Writes, n: number, fn: (table: Table, key: Key, value: Uint8Array | undefined) => void): void {
  for (let i = 0; i < n; i++) fn(w.tables[i]!, w.keys[i]!, w.values[i]);
}

/** What an emptied record slot holds until the next batch fills it. */
const NO_KEY: Key = '';

let guarded = false;

/**
 * lmdb-js rejects a promise of its own (the event turn's batch start) when an
 * asynchronous commit fails, and nobody can handle it: without this, a full
 * disk with fsync 'always' would end the primary. Only that rejection (its
 * reason carries `commitError`) is swallowed; any other is rethrown, as Node
 * does by default.
 */
function guardCommitRejections(): void {
  if (guarded) return;
  guarded = true;
  process.on('unhandledRejection', (reason) => {
    const commitError = (reason as { commitError?: Promise<unknown> } | null)?.commitError;
    if (commitError === undefined) throw reason;
    commitError.catch(() => {});
  });
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
