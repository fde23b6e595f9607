/**
 * The redo journal's files on their own (journal.ts): frames read back in
 * sequence order across both files; a torn tail, a damaged frame or a gap
 * ends what is recovered; frames LMDB already holds are skipped; an append
 * that fails on a full disk leaves the file as it was, and the next one
 * lands where it would have.
 */
import { appendFileSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { open as openLmdb, type Key } from 'lmdb';

import { Checkpoints } from '../../src/state/checkpoints.js';
import { DiskRoom } from '../../src/state/disk-room.js';
import { Journal, readFrames, type FrameOps } from '../../src/state/journal.js';
import { fill, mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';
import { cleanup, codeOf, enc, open, req, tempDir, writeValueFrames } from './helpers.js';

const op = (n: number): FrameOps => [n % 6, ['k', n], n % 5 === 0 ? null : new Uint8Array([n & 255, 7])];
const seqs = (j: Journal, after: number): number[] => j.recover(after).frames.map((f) => f.seq);
/** The frames a fresh open of `dir` recovers past `after`, the journal closed again. */
const reopened = (dir: string, after = 0): number[] => {
  const j = Journal.open(dir);
  try {
    return seqs(j, after);
  } finally {
    j.close();
  }
};

describe('the redo journal', () => {
  let dir = '';
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => {
    cleanup(dir);
  });

  it('reads back every frame, in sequence order across both files, with its writes', () => {
    const j = Journal.open(dir);
    for (let s = 1; s <= 5; s++) j.append(s, [...op(s), ...op(s + 100)]);
    j.rotate();
    for (let s = 6; s <= 9; s++) j.append(s, op(s));
    j.close();
    const again = Journal.open(dir);
    const { frames } = again.recover(0);
    expect(frames.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(frames[0]!.ops).toEqual([1, ['k', 1], Buffer.from([1, 7]), 5, ['k', 101], Buffer.from([101, 7])]);
    expect(frames[4]!.ops).toEqual([5, ['k', 5], null, 3, ['k', 105], null]);
    // What LMDB holds is skipped.
    expect(seqs(again, 6)).toEqual([7, 8, 9]);
    expect(seqs(again, 9)).toEqual([]);
    again.close();
  });

  it('a torn last frame, a damaged frame and a gap in the numbers each end what is recovered', () => {
    const j = Journal.open(dir);
    for (let s = 1; s <= 6; s++) j.append(s, op(s));
    j.close();
    const file = path.join(dir, 'journal-0');
    const whole = readFileSync(file);
    // Torn: the last frame lacks its final byte.
    truncateSync(file, whole.length - 1);
    expect(reopened(dir)).toEqual([1, 2, 3, 4, 5]);
    // Damaged: a byte of the third frame's body flipped; nothing after it in that file counts.
    const bytes = Buffer.from(whole);
    const third = frameStarts(whole)[2]!;
    bytes[third + 10] = bytes[third + 10]! ^ 0xff;
    writeFileSync(file, bytes);
    expect(reopened(dir)).toEqual([1, 2]);
    // Zeros after the last frame (a power loss's unwritten pages) end the file, like its end.
    writeFileSync(file, Buffer.concat([whole, Buffer.alloc(4096)]));
    expect(reopened(dir)).toEqual([1, 2, 3, 4, 5, 6]);
    // A gap: frame 8 in the other file without 7 is not applied.
    writeFileSync(path.join(dir, 'journal-1'), framesOf([[8, op(8)]]));
    expect(reopened(dir)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(readFrames(Buffer.from('not a journal at all')).frames.length).toBe(0);
  });

  it('a frame after a failed append overwrites it: recovery finds no hole', () => {
    const j = Journal.open(dir);
    j.append(1, op(1));
    j.append(2, op(2));
    // What a write cut short leaves past the end (here written by hand): the next append goes over it.
    appendFileSync(path.join(dir, 'journal-0'), Buffer.from([0, 0, 1, 0, 9, 9, 9]));
    j.append(3, op(3));
    j.close();
    expect(reopened(dir)).toEqual([1, 2, 3]);
  });

  it('empty() drops a file the checkpoint holds; appends go on in the other', () => {
    const j = Journal.open(dir);
    j.append(1, op(1));
    const left = j.rotate();
    j.append(2, op(2));
    j.empty(left);
    expect(statSync(path.join(dir, 'journal-0')).size).toBe(0);
    expect(seqs(j, 1)).toEqual([2]);
    // Back to the emptied file: it starts at 0 again.
    j.rotate();
    j.append(3, op(3));
    expect(statSync(path.join(dir, 'journal-0')).size).toBe(j.bytes - statSync(path.join(dir, 'journal-1')).size);
    expect(seqs(j, 1)).toEqual([2, 3]);
    j.close();
  });

  it('applies the frames before the damage, says so, and keeps the damaged file aside; a torn tail is no damage', async () => {
    const first = await open(dir);
    await first.handle('c:1', req('value.set', 'seed', { a: enc(0) }));
    await first.close();
    const stateDir = path.join(dir, 'state');
    writeValueFrames(stateDir, 2, 6);
    const file = path.join(stateDir, 'journal-0');
    const whole = readFileSync(file);
    // A torn last frame: no warning, the five before it applied.
    writeFileSync(file, whole.subarray(0, whole.length - 3));
    let s = await open(dir);
    expect(s.warnings).toEqual([]);
    expect(await s.handle('c:1', req('value.get', 'v4'))).toMatchObject({ version: 1 });
    expect(await codeOf(s.handle('c:1', req('value.get', 'v5')))).toBe('E_NO_SUCH_VALUE');
    await s.close();
    // A damaged frame with frames after it: those are not applied, and the file is kept for a look.
    cleanup(dir);
    dir = tempDir();
    s = await open(dir);
    await s.handle('c:1', req('value.set', 'seed', { a: enc(0) }));
    await s.close();
    const bytes = Buffer.from(whole);
    const third = frameStarts(whole)[2]!;
    bytes[third + 12] = bytes[third + 12]! ^ 0xff;
    writeFileSync(path.join(dir, 'state', 'journal-0'), bytes);
    s = await open(dir);
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toMatch(
      /journal-0 has a damaged frame: the writes after it were not applied; the file is kept as .*journal-0\.damaged-\d+/,
    );
    expect(await s.handle('c:1', req('value.get', 'v1'))).toMatchObject({ version: 1 });
    expect(await codeOf(s.handle('c:1', req('value.get', 'v2')))).toBe('E_NO_SUCH_VALUE');
    const kept = readdirSync(path.join(dir, 'state')).filter((f) => f.startsWith('journal-0.damaged-'));
    expect(kept).toHaveLength(1);
    expect(readFileSync(path.join(dir, 'state', kept[0]!)).equals(bytes)).toBe(true);
    await s.close();
  });
});

const skip = tmpfsUnavailable();

describe.skipIf(skip !== undefined)(`the redo journal on a full disk${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('an append that fails with ENOSPC leaves the file as it was; the next one, once space returns, follows the last good frame', () => {
    const m = mountTmpfs(4);
    if ('skip' in m) throw new Error(m.skip);
    let j = Journal.open(m.dir);
    try {
      j.append(1, op(1));
      j.append(2, op(2));
      const size = statSync(path.join(m.dir, 'journal-0')).size;
      const filler = fill(m.dir);
      // Larger than the page the file's tail may still have room in.
      const big: FrameOps = [0, 'big', new Uint8Array(64 * 1024).fill(1)];
      expect(() => j.append(3, big)).toThrow(/ENOSPC/);
      expect(statSync(path.join(m.dir, 'journal-0')).size).toBe(size);
      rmSync(filler);
      j.append(3, big);
      j.append(4, op(4));
      j.close();
      j = Journal.open(m.dir);
      const { frames } = j.recover(0);
      expect(frames.map((f) => f.seq)).toEqual([1, 2, 3, 4]);
      expect((frames[2]!.ops[2] as Uint8Array).length).toBe(64 * 1024);
    } finally {
      j.close();
      unmount(m.dir);
    }
  });
});

/** Where each frame of a journal file starts. */
function frameStarts(buf: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + 8 <= buf.length; at += 8 + buf.readUInt32BE(at)) out.push(at);
  return out;
}

/** The bytes of a journal file holding these frames (written by a Journal in a scratch dir). */
function framesOf(frames: [number, FrameOps][]): Buffer {
  const scratch = tempDir();
  try {
    const j = Journal.open(scratch);
    for (const [seq, ops] of frames) j.append(seq, ops);
    j.close();
    return readFileSync(path.join(scratch, 'journal-0'));
  } finally {
    cleanup(scratch);
  }
}

describe('the journal while a sync is slow', () => {
  it('stays small: past 8 MiB the active file is checkpointed and emptied in place, and no append fails', async () => {
    const dir = tempDir();
    const root = openLmdb({ path: dir, encoding: 'binary', maxDbs: 8, noSync: true });
    const tables = ['values', 'queues', 'dicts', 'meta', 'replays', 'replay-log'].map((n) =>
      root.openDB<Uint8Array, Key>(n, { encoding: 'binary' }),
    );
    // A sync that takes 1.5 s: the other file cannot take appends until it is done.
    const cp = Checkpoints.open({
      root,
      tables,
      meta: tables[3]!,
      dir,
      room: new DiskRoom(dir),
      journaled: true,
      sync: () => new Promise((r) => setTimeout(r, 1500)),
    });
    const timer = setInterval(() => cp.tick(), 1000);
    const size = (): number => statSync(path.join(dir, 'journal-0')).size + statSync(path.join(dir, 'journal-1')).size;
    const v = new Uint8Array(8192);
    let appends = 0;
    let peak = 0;
    try {
      const end = Date.now() + 2500;
      // 7 x 8 KiB to four keys a turn (under the 64 KiB that goes straight to LMDB), a turn at a time.
      while (Date.now() < end) {
        cp.append((write) => {
          for (let j = 0; j < 7; j++) write(tables[0]!, `k${j % 4}`, v);
        });
        appends++;
        peak = Math.max(peak, size());
        await new Promise((r) => setImmediate(r));
      }
      expect(appends * 7 * 8192).toBeGreaterThan(64 * 1024 * 1024);
      expect(peak).toBeLessThan(32 * 1024 * 1024);
    } finally {
      clearInterval(timer);
      await cp.close();
      await root.close();
      cleanup(dir);
    }
  }, 20_000);
});
