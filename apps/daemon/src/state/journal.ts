/**
 * journal.ts - the state store's redo journal (fsync 'everysec' and 'no').
 *
 * An LMDB commit costs ~6-14 us on this kind of machine (an lseek, a writev
 * and three pwrites of its pages and meta page) when commits follow each
 * other, and 100-200 us after 50 ms of other work (its pages cold in the
 * caches; a checkpoint after a second of a daemon's work measured 0.3-1 ms);
 * appending the same bytes to a file costs ~2.6 us. So a turn's writes go to
 * the journal as one frame, and LMDB gets them in a checkpoint about once a
 * second (checkpoints.ts). A frame is [u32 body length][u32 CRC-32 of the
 * body][body], the body the control codec's msgpack of [seq, table, key,
 * value | null, table, key, ...] with sequence numbers that grow by one per
 * frame.
 *
 * Two files, `journal-0` and `journal-1`, take turns: a checkpoint commits
 * what the active one holds (and everything before it) to LMDB with the
 * frame's sequence number, switches appends to the other file, and empties
 * the first once LMDB is synced. Recovery reads both, keeps the frames past
 * LMDB's stored sequence number, and applies them in order while the numbers
 * run on without a gap; a torn or damaged frame ends its file (what follows
 * it was never acknowledged on its own: a failed append is rewound, and the
 * next one overwrites it).
 */
import { closeSync, constants, ftruncateSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';

import { decodeMessage, encodeMessage } from '@corepool/protocol/internal';
import type { Key } from 'lmdb';

/** A frame's header: body length and CRC-32, both u32 big-endian. */
const HEADER = 8;

/** A frame larger than this is damage, not a frame (a turn's writes are bounded far below it). */
const MAX_FRAME = 1024 * 1024 * 1024;

/**
 * A file refuses appends past this size: it holds about a second of writes, unless checkpoints
 * keep failing, and recovery reads it whole (Node reads at most 2 GiB into one buffer).
 */
const MAX_FILE = 1024 * 1024 * 1024;

/** The writes of one frame, flat: table index, key, bytes or null (a delete), and again. */
export type FrameOps = (number | Key | Uint8Array | null)[];

/** A frame read back: its sequence number and writes. */
export interface Frame {
  readonly seq: number;
  readonly ops: FrameOps;
}

/** What recovery found: the frames to apply, and the files with a damaged frame that more bytes follow. */
export interface Recovered {
  readonly frames: Frame[];
  readonly damaged: string[];
}

/** The journal's two files and which one takes appends. */
export class Journal {
  readonly #paths: [string, string];
  readonly #fds: [number, number];
  /** Where the next frame goes in each file. */
  readonly #ends: [number, number];
  #active: 0 | 1 = 0;
  /** What recover() read of each file: where its frames start, their numbers, and where the good ones end. */
  #read: { starts: number[]; seqs: number[]; end: number }[] = [];

  private constructor(dir: string) {
    this.#paths = [path.join(dir, 'journal-0'), path.join(dir, 'journal-1')];
    // Not O_APPEND: a failed append is rewound by writing the next frame at its start (#ends).
    const flags = constants.O_RDWR | constants.O_CREAT;
    this.#fds = [openSync(this.#paths[0], flags, 0o600), openSync(this.#paths[1], flags, 0o600)];
    this.#ends = [fstatSync(this.#fds[0]).size, fstatSync(this.#fds[1]).size];
  }

  /** Opens (creating) the two files in the state directory `dir`. */
  static open(dir: string): Journal {
    return new Journal(dir);
  }

  /**
   * The frames after sequence number `after`, in order, while the numbers
   * run on from `after + 1` without a gap (what a crash left to apply).
   */
  recover(after: number): Recovered {
    const bySeq = new Map<number, FrameOps>();
    const damaged: string[] = [];
    this.#read = [];
    for (const p of this.#paths) {
      const buf = readFileSync(p);
      const { frames, starts, end } = readFrames(buf);
      for (const f of frames) if (f.seq > after) bySeq.set(f.seq, f.ops);
      if (isDamage(buf, end)) damaged.push(p);
      this.#read.push({ starts, seqs: frames.map((f) => f.seq), end });
    }
    const out: Frame[] = [];
    for (let seq = after + 1; bySeq.has(seq); seq++) out.push({ seq, ops: bySeq.get(seq)! });
    return { frames: out, damaged };
  }

  /**
   * Appends one frame to the active file; throws what the write threw (ENOSPC)
   * with the file as it was before (the frame's bytes are overwritten by the next).
   */
  append(seq: number, ops: FrameOps): void {
    const body = encodeMessage([seq, ...ops]);
    const frame = Buffer.allocUnsafe(HEADER + body.length);
    frame.writeUInt32BE(body.length, 0);
    frame.writeUInt32BE(crc32(body), 4);
    frame.set(body, HEADER);
    const i = this.#active;
    const at = this.#ends[i];
    if (at + frame.length > MAX_FILE) throw new Error(`the journal file ${this.#paths[i]} is full (checkpoints are failing)`);
    try {
      let done = 0;
      while (done < frame.length) done += writeSync(this.#fds[i], frame, done, frame.length - done, at + done);
    } catch (err) {
      try {
        ftruncateSync(this.#fds[i], at);
      } catch {
        // The next frame overwrites what this one left; recovery stops at it either way.
      }
      throw err;
    }
    this.#ends[i] = at + frame.length;
  }

  /**
   * Cuts each file after its frames up to `last` (the last one recovered): what
   * followed them (a damaged frame, a power loss's zeros, frames past a gap) is
   * dropped, so the frames appended from here on follow the recovered ones and
   * are read back. Shrinking a file needs no free space (a full disk at start).
   */
  keepUpTo(last: number): void {
    for (const i of [0, 1] as const) {
      const r = this.#read[i];
      if (r === undefined) continue;
      const past = r.seqs.findIndex((seq) => seq > last);
      const cut = past < 0 ? r.end : r.starts[past]!;
      ftruncateSync(this.#fds[i], cut);
      this.#ends[i] = cut;
    }
  }

  /** Switches appends to the other file; returns the one left, to empty once a checkpoint holds it. */
  rotate(): 0 | 1 {
    const left = this.#active;
    this.#active = left === 0 ? 1 : 0;
    return left;
  }

  /** Empties the file taking appends (its frames are in LMDB). */
  emptyActive(): void {
    this.empty(this.#active);
  }

  /** Empties file `i` (its frames are in LMDB, synced). */
  empty(i: 0 | 1): void {
    ftruncateSync(this.#fds[i], 0);
    this.#ends[i] = 0;
  }

  /** Bytes in both files. */
  get bytes(): number {
    return this.#ends[0] + this.#ends[1];
  }

  /** Bytes in the file taking appends. */
  get activeBytes(): number {
    return this.#ends[this.#active];
  }

  close(): void {
    for (const fd of this.#fds) closeSync(fd);
  }
}

/** The whole frames at the start of `buf`, up to the first torn or damaged one, where each starts, and where they end. */
export function readFrames(buf: Buffer): { frames: Frame[]; starts: number[]; end: number } {
  const out: Frame[] = [];
  const starts: number[] = [];
  let at = 0;
  while (at + HEADER <= buf.length) {
    const len = buf.readUInt32BE(at);
    if (len === 0 || len > MAX_FRAME || at + HEADER + len > buf.length) break;
    const body = buf.subarray(at + HEADER, at + HEADER + len);
    if (crc32(body) !== buf.readUInt32BE(at + 4)) break;
    let decoded: unknown;
    try {
      decoded = decodeMessage(body);
    } catch {
      break;
    }
    if (!Array.isArray(decoded) || typeof decoded[0] !== 'number' || (decoded.length - 1) % 3 !== 0) break;
    out.push({ seq: decoded[0], ops: decoded.slice(1) as FrameOps });
    starts.push(at);
    at += HEADER + len;
  }
  return { frames: out, starts, end: at };
}

/**
 * Whether what follows the last good frame, at `end`, is damage rather than the
 * tail a crash leaves: a frame cut short by the end of the file, or zeros (pages
 * a power loss never wrote), is a tail; a whole frame that fails its CRC, or
 * bytes that are no frame at all, is damage (a power loss can leave that too).
 */
function isDamage(buf: Buffer, end: number): boolean {
  if (end + HEADER > buf.length) return false;
  const len = buf.readUInt32BE(end);
  if (len > 0 && len <= MAX_FRAME && end + HEADER + len > buf.length) return false;
  for (let i = end; i < buf.length; i++) if (buf[i] !== 0) return true;
  return false;
}
