/**
 * checkpoints.ts - the write path of fsync 'everysec' and 'no': each batch
 * appended to the redo journal (journal.ts) as a frame, the last state of
 * every record written since kept in memory (pending-writes.ts), and
 * checkpoints that commit those to LMDB with the last frame's sequence
 * number, so that the journal's files can be emptied in turn. At open, in
 * every mode, the frames LMDB lacks are applied.
 *
 * A checkpoint runs once a second (`tick`), or at once past 64 records or
 * 64 KiB pending. After a tick's checkpoint, appends switch to the other
 * file, and the one left (every frame in it LMDB's now) is emptied once
 * LMDB is synced ('everysec'; at once with 'no'); a file past 8 MiB ticks
 * at once, so the journal stays small however fast the same keys change. A
 * large batch is committed straight to LMDB with what is pending
 * (`commitWith`), as the next sequence number. A failed write is rolled back against LMDB read
 * with the pending writes applied in a transaction that is then aborted
 * (`withPending`).
 */
import { closeSync, copyFileSync, fsyncSync, openSync } from 'node:fs';
import path from 'node:path';

import type { Key, RootDatabase } from 'lmdb';
import { InternalError, NoSpaceError } from '@corepool/protocol';

import type { DiskRoom } from './disk-room.js';
import { Journal, type FrameOps } from './journal.js';
import { decodeNumber, encodeNumber } from './number-record.js';
import { PendingWrites, applySync } from './pending-writes.js';
import type { Table } from './store.js';

/**
 * Past this many records or bytes pending, a checkpoint runs at once. It blocks the primary
 * (measured: 1-4 ms for 256 records of 2 KB under a flood of them, a neighbour's p99 3.8 ->
 * 4.9 ms; 0.3-2 ms for 64, p99 4.0-4.4): it must stay as short as a few turns' commits were.
 * A counter is one record however often it changes, so this rarely binds but for many keys.
 */
const CHECKPOINT_RECORDS = 64;
const CHECKPOINT_BYTES = 64 * 1024;

/**
 * Past this many bytes in the active journal file, the file is switched as at a tick: a second
 * of 8 KiB writes to a few keys is 60 MB of journal on this machine (where LMDB would overwrite
 * the same few records), which would fill a small disk that the state fits on many times over.
 */
const ROTATE_BYTES = 8 * 1024 * 1024;

/** The meta record holding the sequence number of the last journal frame LMDB holds. */
const JOURNAL_SEQ: Key = ['journal'];

/** Thrown to abort the transaction a rollback reads in (withPending). */
const ROLLBACK = new Error('rollback');

/** One write: a put (bytes) or a delete (undefined). */
export type WriteOp = (table: Table, key: Key, value: Uint8Array | undefined) => void;

/** Calls `write` for each write of a batch, in order. */
export type WriteVisitor = (write: WriteOp) => void;

export interface CheckpointOptions {
  readonly root: RootDatabase<Uint8Array, Key>;
  /** The tables, by their number in a frame. */
  readonly tables: readonly Table[];
  readonly meta: Table;
  /** The state directory: the journal's files and data.mdb. */
  readonly dir: string;
  readonly room: DiskRoom;
  /** env.sync off the main thread ('everysec'); undefined: never synced ('no'). */
  readonly sync: (() => Promise<void>) | undefined;
  /** Writes go through the journal ('everysec', 'no'); with 'always' a start must commit what it recovers. */
  readonly journaled: boolean;
}

/** The redo journal, what it holds that LMDB lacks, and the checkpoints between them. */
export class Checkpoints {
  readonly #o: CheckpointOptions;
  readonly #tableIds = new Map<Table, number>();
  readonly #journal: Journal;
  readonly #pending = new PendingWrites();
  /** The last frame's sequence number. */
  #seq = 0;
  /** A tick's sync, until its journal file is emptied. */
  #syncing: Promise<void> | null = null;
  /** LMDB committed since the last tick's sync: the next tick syncs it and empties a journal file. */
  #committedSinceSync = false;
  /** What the start found wrong with the journal, for the daemon's log. */
  readonly warnings: string[] = [];

  private constructor(o: CheckpointOptions) {
    this.#o = o;
    o.tables.forEach((t, i) => this.#tableIds.set(t, i));
    this.#journal = Journal.open(o.dir);
    try {
      this.#seq = this.#recover();
    } catch (err) {
      this.#journal.close();
      throw err;
    }
  }

  /** Opens the journal and applies the frames LMDB lacks (a crash left them). */
  static open(o: CheckpointOptions): Checkpoints {
    return new Checkpoints(o);
  }

  /**
   * Applies the journal's frames LMDB lacks, syncs LMDB, empties the journal;
   * returns the last frame's number. On a full disk a journaled store keeps
   * them pending instead (reads see them through `withPending`, the next
   * checkpoint with room commits them), as it would have before the crash.
   */
  #recover(): number {
    const { tables, meta, dir } = this.#o;
    const stored = meta.get(JOURNAL_SEQ);
    const after = stored === undefined ? 0 : decodeNumber(stored);
    const { frames, damaged } = this.#journal.recover(after);
    for (const file of damaged) {
      // Kept for a look: what followed the damage is not applied (a power loss can do this; else the disk is failing).
      const copy = `${file}.damaged-${Date.now()}`;
      let kept = `the file is kept as ${copy}`;
      try {
        copyFileSync(file, copy);
      } catch (err) {
        kept = `no copy could be kept (${(err as Error).message})`;
      }
      this.warnings.push(`${file} has a damaged frame: the writes after it were not applied; ${kept}`);
    }
    if (frames.length === 0) {
      this.#journal.empty(0);
      this.#journal.empty(1);
      return after;
    }
    for (const f of frames) {
      for (let i = 0; i < f.ops.length; i += 3) {
        const table = tables[f.ops[i] as number];
        if (table === undefined)
          throw new InternalError(`journal frame ${f.seq} names table ${String(f.ops[i])}, which this version lacks`);
        const value = f.ops[i + 2] as Uint8Array | null;
        this.#pending.set(table, f.ops[i + 1] as Key, value ?? undefined);
      }
    }
    const last = frames.at(-1)!.seq;
    this.#seq = last;
    if (!this.#checkpoint()) {
      if (!this.#o.journaled)
        throw new NoSpaceError(`the disk under ${dir} is full: the journal's last ${frames.length} frames cannot be applied`);
      this.warnings.push(`the disk under ${dir} is full: ${frames.length} journal frames stay in the journal until a checkpoint has room`);
      // New frames go right after the recovered ones: never after damage, nor before old frames past a gap.
      this.#journal.keepUpTo(last);
      return last;
    }
    // The environment may be noSync: its file is flushed before the frames that made it are dropped.
    const fd = openSync(path.join(dir, 'data.mdb'), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.#committedSinceSync = false;
    this.#journal.empty(0);
    this.#journal.empty(1);
    return last;
  }

  /** Records and bytes pending: a write must leave room for the checkpoint that will carry it. */
  get pendingRecords(): number {
    return this.#pending.size;
  }

  get pendingBytes(): number {
    return this.#pending.bytes;
  }

  /** A batch as one frame in the journal; throws what the append threw (ENOSPC), with nothing kept. */
  append(visit: WriteVisitor): void {
    const ops: FrameOps = [];
    visit((table, key, v) => {
      ops.push(this.#tableIds.get(table)!, key, v ?? null);
    });
    this.#journal.append(this.#seq + 1, ops);
    this.#seq++;
    const tables = this.#o.tables;
    for (let i = 0; i < ops.length; i += 3) {
      const v = ops[i + 2] as Uint8Array | null;
      this.#pending.set(tables[ops[i] as number]!, ops[i + 1] as Key, v ?? undefined);
    }
    if (this.#journal.activeBytes > ROTATE_BYTES) this.#shrink();
    else if (this.#pending.size > CHECKPOINT_RECORDS || this.#pending.bytes > CHECKPOINT_BYTES) this.#checkpoint();
  }

  /** A large batch, committed straight to LMDB with what is pending, as the next frame's number; throws what LMDB threw. */
  commitWith(visit: WriteVisitor): void {
    this.#commit(this.#seq + 1, visit);
    this.#seq++;
  }

  /**
   * Commits the pending writes (and a large batch's) to LMDB in one
   * transaction with the sequence number `seq`: every frame up to it is
   * LMDB's from then on (recovery skips them). Throws what LMDB threw, with
   * nothing changed.
   */
  #commit(seq: number, visit?: WriteVisitor): void {
    this.#o.root.transactionSync(() => {
      this.#pending.applyTo();
      visit?.(applySync);
      this.#o.meta.putSync(JOURNAL_SEQ, encodeNumber(seq));
    });
    this.#pending.clear();
    this.#committedSinceSync = true;
  }

  /** A checkpoint of what is pending, unless the disk lacks room for it; false if it did not happen (retried later). */
  #checkpoint(): boolean {
    if (this.#pending.size === 0) return true;
    if (!this.#o.room.has(this.#pending.bytes, this.#pending.size)) return false;
    try {
      this.#commit(this.#seq);
      return true;
    } catch {
      // A full disk or map: the frames stay pending and in the journal.
      return false;
    }
  }

  /**
   * Once a second: a checkpoint, then appends switch to the other journal
   * file and the one left is emptied once LMDB is synced. One sync at a time:
   * while one runs, appends stay in the active file until the next tick.
   */
  tick(): void {
    if (!this.#checkpoint() || !this.#committedSinceSync || this.#syncing !== null) return;
    this.#committedSinceSync = false;
    const left = this.#journal.rotate();
    this.#syncing = (this.#o.sync?.() ?? Promise.resolve())
      .then(() => this.#journal.empty(left))
      .catch(() => {
        // The next tick syncs again; the file is left as it is (later frames go after its own,
        // which recovery skips: LMDB holds them).
        this.#committedSinceSync = true;
      })
      .finally(() => {
        this.#syncing = null;
      });
  }

  /**
   * The active file is past ROTATE_BYTES: a tick, or, while the last tick's sync
   * still runs (the other file cannot take appends yet), a checkpoint and the
   * active file emptied in place. Every frame in it is then in LMDB, in the page
   * cache like the frames themselves (the journal is never synced on its own):
   * kill -9 loses nothing, and a power loss loses what the syncs had not reached,
   * as `everysec` says. Else a slow sync would let the journal grow with the writes.
   */
  #shrink(): void {
    if (this.#syncing === null) this.tick();
    else if (this.#checkpoint()) this.#journal.emptyActive();
  }

  /**
   * Runs `read` where LMDB reads as the journal does: the pending writes applied
   * in a transaction that is then aborted (lmdb-js reads inside `transactionSync`
   * see its writes). A rollback reloads the failed records this way.
   */
  withPending<T>(read: () => T): T {
    if (this.#pending.size === 0) return read();
    let ran = false;
    let result!: T;
    try {
      this.#o.root.transactionSync(() => {
        this.#pending.applyTo();
        ran = true;
        result = read();
        throw ROLLBACK;
      });
    } catch (err) {
      if (err !== ROLLBACK && !ran) return read();
      if (err !== ROLLBACK) throw err;
    }
    return result;
  }

  /** A last checkpoint and its sync, then the files are closed. The environment may be closed after. */
  async close(): Promise<void> {
    await this.#syncing;
    this.tick();
    await this.#syncing;
    this.#journal.close();
  }
}
