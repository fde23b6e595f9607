/**
 * disk-room.ts - the state store's watch on the disk under it: whether a
 * write fits with DISK_RESERVE to spare (checked before LMDB or the journal
 * writes, since lmdb-js 3.5 can abort the process on a failed write), and
 * what a failed write's error says (a full disk is E_NO_SPACE).
 */
import { statSync, statfsSync } from 'node:fs';
import path from 'node:path';

import { InternalError, NoSpaceError } from '@corepool/protocol';

/** Free space kept on the disk under the state: a batch that would eat into it fails with E_NO_SPACE. */
export const DISK_RESERVE = 4 * 1024 * 1024;

/** Free space above which the disk is not looked at before every batch (DiskRoom.has). */
const ROOMY = 256 * 1024 * 1024;

/** LMDB's page (the OS page size on Linux): the unit a write costs at least. */
const PAGE_SIZE = 4096;

/** Pages' bytes past which a batch's estimate is capped by the tree's own size (DiskRoom.has). */
const CAPPED_FROM = 16 * 1024 * 1024;

/** Free space where the state lives, looked at as seldom as it is safe to. */
export class DiskRoom {
  readonly #dir: string;
  /** Bytes that may be written before the free space is looked at again. */
  #allowance = 0;
  #checkedAt = 0;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * Whether a batch of `bytes` in `writes` records fits on the disk with DISK_RESERVE to spare,
   * checked before LMDB writes. LMDB's own failure on a full disk is rolled back too, but
   * lmdb-js 3.5's report of a failed write overruns a 100-byte buffer (mdb.c, "Write error")
   * and often aborts the process: it must not be reached. statfs runs before every batch
   * while less than ROOMY is free; with more, again once half of the excess is written or a
   * second has passed (it costs a few microseconds; a busy primary commits thousands of batches a second).
   */
  has(bytes: number, writes: number): boolean {
    const need = this.#need(bytes, writes);
    const now = Date.now();
    if (need <= this.#allowance && now - this.#checkedAt < 1000) {
      this.#allowance -= need;
      return true;
    }
    const free = this.#free();
    if (free === undefined) return true;
    this.#checkedAt = now;
    this.#allowance = free > ROOMY ? (free - ROOMY) / 2 : 0;
    return free - need >= DISK_RESERVE;
  }

  /**
   * Whether one write of `bytes` fits with DISK_RESERVE to spare, looked at now (statfs: a few
   * microseconds; asked only for writes of a megabyte or more), without taking from the allowance.
   */
  fits(bytes: number): boolean {
    const free = this.#free();
    return free === undefined || free - this.#need(bytes, 1) >= DISK_RESERVE;
  }

  /**
   * What a batch of `bytes` in `writes` records may take. Copy-on-write: new pages for each record and
   * its branch, before the old ones are freed; never more pages than the tree has, each copied once in
   * a transaction. Uncapped, one app's `dict.clear()` of 100,000 keys (200,001 deletes) asked 3.3 GB
   * free, and failed its batch, every other app's writes of that turn with it, with E_NO_SPACE on a
   * disk with gigabytes to spare.
   */
  #need(bytes: number, writes: number): number {
    let pages = writes * 4 * PAGE_SIZE;
    if (pages > CAPPED_FROM) pages = Math.min(pages, this.#treeBytes() + CAPPED_FROM);
    return 2 * bytes + pages;
  }

  /** Free bytes on the disk now; undefined if statfs cannot tell (then nothing is refused). */
  #free(): number | undefined {
    try {
      const st = statfsSync(this.#dir);
      return st.bavail * st.bsize;
    } catch {
      return undefined;
    }
  }

  /** The bytes the store's file takes on the disk (its pages); Infinity if it cannot be read. */
  #treeBytes(): number {
    try {
      const st = statSync(path.join(this.#dir, 'data.mdb'));
      return st.blocks * 512;
    } catch {
      return Infinity;
    }
  }

  /** What a failed write's writers are told: E_NO_SPACE when the disk or map is full, else E_INTERNAL. */
  commitError(err: unknown): Error {
    if (err instanceof NoSpaceError) return err;
    const msg = String((err as Error | undefined)?.message ?? err);
    const code = (err as { code?: unknown } | undefined)?.code;
    // LMDB reports a short write as EIO; on a full file system that is what a full disk looks like.
    const full =
      /MDB_MAP_FULL|ENOSPC|No space/i.test(msg) ||
      code === 28 ||
      ((code === 5 || /Input\/output error|Commit failed/.test(msg)) && this.#nearlyFull());
    if (full)
      return new NoSpaceError(`the state store is full (${msg}): the write was not applied; free disk space under ${this.#dir}`, {
        cause: err,
      });
    return new InternalError(`state commit failed: ${msg}`, { cause: err });
  }

  /** Less than 1 MiB free (or free space unknown) where the state lives. */
  #nearlyFull(): boolean {
    try {
      const s = statfsSync(this.#dir);
      return s.bavail * s.bsize < 1024 * 1024;
    } catch {
      return true;
    }
  }
}
