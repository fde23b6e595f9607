/**
 * A full disk under the shared state (a small tmpfs, filled from outside):
 * a batch whose commit fails is rolled back in memory and each of its writes
 * fails with E_NO_SPACE; reads return the committed state, a failed put is not
 * counted or handed out, a failed grant is not held, no rolled-back version is
 * pushed; once space returns writes work, and a reopen finds exactly the
 * acknowledged writes. Both fsync modes; no unhandled rejection.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { Push } from '@corepool/protocol';
import type { SharedState } from '../../src/state/shared-state.js';
import type { FsyncMode } from '../../src/state/store.js';
import { takenItem } from '../../src/state/replay-log.js';
import { fill, mountTmpfs, tmpfsUnavailable, unmount } from '../support/tmpfs.js';
import { until } from '../support/wait.js';
import { buildState, fixture } from './fixtures/build.js';
import { cleanup, codeOf, dec, enc, open, req, tempDir, writeValueFrames } from './helpers.js';

const skip = tmpfsUnavailable();

const BIG = 256 * 1024;

for (const fsync of ['everysec', 'always'] as FsyncMode[]) {
  describe.skipIf(skip !== undefined)(`a full disk, fsync ${fsync}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let dir = '';
    let state: SharedState | undefined;
    useTmpfs(
      16,
      (d) => (dir = d),
      () => {
        const s = state;
        state = undefined;
        return s;
      },
    );

    it('fails the writes of a failed batch with E_NO_SPACE, rolls them back, keeps serving reads, recovers when space returns', async () => {
      state = await open(dir, fsync);
      const s = state;
      const pushes: Push[] = [];
      s.onPush = (owner, p) => pushes.push(p);
      await s.handle('c:sub', req('value.subscribe', 'v'));
      await s.handle('c:1', req('value.set', 'v', { a: enc('one') }));
      for (let i = 0; i < 5; i++) await s.handle('c:1', req('value.add', 'n', { a: enc(1) }));
      for (const i of [1, 2, 3]) await s.handle('c:1', req('queue.put', 'q', { a: enc(i) }));
      await s.handle('c:1', req('dict.set', 'd', { key: 'a', a: enc(1) }));
      const filler = fill(dir);

      // One batch (one tick): big writes that need new pages, and small ones riding with them.
      const blocked = s.handle('c:getter', req('queue.get', 'empty'));
      const failed = await Promise.all([
        codeOf(s.handle('c:1', req('value.set', 'v', { a: enc(new Uint8Array(BIG).fill(1)) }))),
        codeOf(s.handle('c:1', req('value.add', 'n', { a: enc(1) }))),
        codeOf(s.handle('c:1', req('value.init', 'created', { a: enc(new Uint8Array(BIG)) }))),
        codeOf(s.handle('c:1', req('queue.put', 'q', { a: enc(new Uint8Array(BIG).fill(2)) }))),
        codeOf(s.handle('c:1', req('queue.get', 'q'))),
        codeOf(s.handle('c:1', req('queue.put', 'empty', { a: enc('handed') }))),
        codeOf(s.handle('c:1', req('dict.set', 'd', { key: 'b', a: enc(new Uint8Array(BIG).fill(3)) }))),
        codeOf(s.handle('c:1', req('dict.delete', 'd', { key: 'a' }))),
        codeOf(s.handle('c:lock', req('lock.acquire', 'L'))),
        codeOf(blocked),
      ]);
      expect(failed).toEqual(Array(10).fill('E_NO_SPACE'));

      // Reads show the committed state: the failed writes are not there, the taken item is back.
      expect(dec(((await s.handle('c:2', req('value.get', 'v'))) as { value: Uint8Array }).value)).toBe('one');
      expect(await s.handle('c:2', req('value.get', 'v'))).toMatchObject({ version: 1 });
      expect(dec(((await s.handle('c:2', req('value.get', 'n'))) as { value: Uint8Array }).value)).toBe(5);
      expect(await codeOf(s.handle('c:2', req('value.get', 'created')))).toBe('E_NO_SUCH_VALUE');
      expect(await s.handle('c:2', req('queue.size', 'q'))).toBe(3);
      expect(await s.handle('c:2', req('queue.size', 'empty'))).toBe(0);
      expect(await s.handle('c:2', req('dict.keys', 'd'))).toEqual(['a']);
      expect(s.counts().locks).toBe(0);
      // A read racing a failing batch is taken again after the rollback.
      const [, raced] = await Promise.all([
        codeOf(s.handle('c:1', req('value.set', 'v', { a: enc(new Uint8Array(BIG)) }))),
        s.handle('c:2', req('value.get', 'v')),
      ]);
      expect(dec((raced as { value: Uint8Array }).value)).toBe('one');

      rmSync(filler);
      // Space is back: writes work, versions continue from the committed ones.
      expect(await s.handle('c:1', req('value.set', 'v', { a: enc('two') }))).toEqual({ version: 2 });
      expect(await s.handle('c:1', req('value.add', 'n', { a: enc(1) }))).toMatchObject({ version: 6 });
      expect(await s.handle('c:1', req('queue.put', 'q', { a: enc(4) }))).toEqual({ size: 4 });
      expect(dec(await s.handle('c:1', req('queue.get', 'q')))).toBe(1);
      expect(await s.handle('c:1', req('dict.set', 'd', { key: 'c', a: enc(3) }))).toEqual({ version: 2 });
      const grant = (await s.handle('c:lock', req('lock.acquire', 'L'))) as { token: number };
      await s.handle('c:lock', req('lock.release', 'L', { token: grant.token }));
      // Subscribers saw versions 1 and 2 only, in order, never the rolled-back bytes (a quiet window:
      // a push that should not come has no event to wait for).
      await new Promise((r) => setTimeout(r, 50));
      expect(pushes.filter((p) => p.name === 'v').map((p) => [p.version, dec(p.value)])).toEqual([
        [1, 'one'],
        [2, 'two'],
      ]);

      // The state's memory estimate, kept through the rollbacks, is what a fresh load counts.
      const kept = s.counts().memory!.usedBytes;
      await s.close();
      state = await open(dir, fsync);
      const t = state;
      expect(t.counts().memory!.usedBytes).toBe(kept);
      expect(dec(((await t.handle('c:3', req('value.get', 'v'))) as { value: Uint8Array }).value)).toBe('two');
      expect(dec(((await t.handle('c:3', req('value.get', 'n'))) as { value: Uint8Array }).value)).toBe(6);
      const items: unknown[] = [];
      for (let i = 0; i < 3; i++) items.push(dec(await t.handle('c:3', req('queue.get', 'q', { timeoutMs: 0 }))));
      expect(items).toEqual([2, 3, 4]);
      expect(await t.handle('c:3', req('queue.size', 'empty'))).toBe(0);
      expect(await t.handle('c:3', req('dict.entries', 'd'))).toEqual([
        ['a', enc(1)],
        ['c', enc(3)],
      ]);
      const again = (await t.handle('c:lock', req('lock.acquire', 'L'))) as { token: number };
      expect(again.token).toBeGreaterThan(grant.token);
    });

    it('keeps no reply of a failed batch, in a segment or a record of its own, and restores the replies it dropped', async () => {
      state = await open(dir, fsync);
      const s = state;
      const bigItem = enc(new Uint8Array(BIG).fill(4));
      await s.handle('c:1', req('value.set', 'v', { a: enc('one') }), ['i', 1]);
      await s.handle('c:1', req('queue.put', 'q', { a: bigItem }));
      await s.handle('c:1', req('queue.put', 'q', { a: bigItem }));
      await s.handle('c:1', req('queue.get', 'q'), ['i', 2]);
      const filler = fill(dir);
      // One batch: a small reply (segment), a large one (own record), and the drops of both kept ones.
      s.dropReply(['i', 1]);
      s.dropReply(['i', 2]);
      const failed = await Promise.all([
        codeOf(s.handle('c:1', req('value.set', 'v', { a: enc(new Uint8Array(BIG)) }), ['i', 3])),
        codeOf(s.handle('c:1', req('queue.get', 'q'), ['i', 4])),
      ]);
      expect(failed).toEqual(['E_NO_SPACE', 'E_NO_SPACE']);
      expect([...(s.keptReplies().get('i')?.keys() ?? [])]).toEqual([1, 2]);
      rmSync(filler);
      await s.handle('c:1', req('value.set', 'v', { a: enc('two') }), ['i', 5]);
      await s.close();
      state = await open(dir, fsync);
      const kept = state.keptReplies().get('i')!;
      expect([...kept.keys()]).toEqual([1, 2, 5]);
      // A get's reply is kept with its queue (replay-log.ts TakenItem).
      expect(takenItem(kept.get(2))!.taken).toBe('q');
      expect(Buffer.from(takenItem(kept.get(2))!.item).equals(bigItem)).toBe(true);
      expect(await state.handle('c:3', req('queue.size', 'q'))).toBe(1);
    });

    it("a large write the disk has no room for fails alone: a neighbour's small write of the same turn is applied", async () => {
      state = await open(dir, fsync);
      const s = state;
      await s.handle('c:2', req('value.set', 'small', { a: enc(0) }));
      const filler = path.join(dir, 'filler');
      const st = statfsSync(dir);
      writeFileSync(filler, Buffer.alloc(Number(st.bavail * st.bsize) - 7 * 1024 * 1024));
      // 2 MiB asks 4 MiB and more, with the 4 MiB reserve: past the 7 MiB free. Before, it failed the whole batch.
      const codes = await Promise.all([
        codeOf(s.handle('c:1', req('value.set', 'large', { a: enc(new Uint8Array(2 * 1024 * 1024)) }))),
        codeOf(s.handle('c:2', req('value.set', 'small', { a: enc(1) }))),
      ]);
      expect(codes).toEqual(['E_NO_SPACE', undefined]);
      expect(dec(((await s.handle('c:2', req('value.get', 'small'))) as { value: Uint8Array }).value)).toBe(1);
      expect(await codeOf(s.handle('c:2', req('value.get', 'large')))).toBe('E_NO_SUCH_VALUE');
      rmSync(filler);
    });

    it('an item put back in a batch that fails goes back again once space returns, its kept reply dropped with it', async () => {
      state = await open(dir, fsync);
      const s = state;
      const item = enc(new Uint8Array(BIG).fill(5));
      await s.handle('c:1', req('queue.put', 'q', { a: item }));
      // Taken by a client instance's get, its reply kept for a resend.
      const taken = await s.handle('c:1', req('queue.get', 'q'), ['i', 1]);
      const filler = fill(dir);
      // The instance ends without acknowledging: its item goes back, its reply dropped, in one batch, which fails.
      s.undelivered(req('queue.get', 'q'), taken, ['i', 1]);
      s.dropReply(['i', 1]);
      expect(await codeOf(s.handle('c:2', req('value.set', 'w', { a: enc(new Uint8Array(BIG)) })))).toBe('E_NO_SPACE');
      expect(await s.handle('c:2', req('queue.size', 'q'))).toBe(0);
      expect([...(s.keptReplies().get('i')?.keys() ?? [])]).toEqual([1]);
      rmSync(filler);
      // Before, it stayed in neither the queue nor a reply anyone would resend, until a restart.
      await until(async () => (await s.handle('c:2', req('queue.size', 'q'))) === 1, 5_000, 'the item back in its queue');
      expect(s.keptReplies().get('i')?.size ?? 0).toBe(0);
      await s.close();
      state = await open(dir, fsync);
      expect(await state.handle('c:3', req('queue.size', 'q'))).toBe(1);
      expect(state.keptReplies().get('i')?.size ?? 0).toBe(0);
      expect(Buffer.from((await state.handle('c:3', req('queue.get', 'q'))) as Uint8Array).equals(item)).toBe(true);
    });
  });
}

/** The state module compiled for the child processes, built at the first test that needs it. */
let built: string | undefined;
const compiled = (): string => (built ??= buildState());

describe.skipIf(skip !== undefined)(`the journal on a small disk${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir = '';
  let state: SharedState | undefined;
  useTmpfs(
    64,
    (d) => (dir = d),
    () => {
      const s = state;
      state = undefined;
      return s;
    },
  );
  const journalBytes = (): number => ['journal-0', 'journal-1'].reduce((n, f) => n + statSync(path.join(dir, 'state', f)).size, 0);

  it('80 MB of 8 KiB writes to four keys fit a 64 MiB disk: the journal is switched by size, not only once a second', async () => {
    state = await open(dir, 'everysec');
    const s = state;
    let peak = 0;
    for (let i = 0; i < 10_000; i++) {
      await s.handle('c:1', req('value.set', `k${i % 4}`, { a: enc(new Uint8Array(8192).fill(i & 255)) }));
      if (i % 500 === 0) peak = Math.max(peak, journalBytes());
    }
    expect(peak).toBeLessThan(40 * 1024 * 1024);
    expect(dec(((await s.handle('c:2', req('value.get', 'k3'))) as { value: Uint8Array }).value)).toEqual(
      new Uint8Array(8192).fill(9999 & 255),
    );
  });

  it('near full, small writes stop where their checkpoint would not fit; once space returns the checkpoint runs and empties the journal', async () => {
    state = await open(dir, 'everysec');
    const s = state;
    await s.handle('c:1', req('value.set', 'seed', { a: enc(1) }));
    const filler = path.join(dir, 'filler');
    const st = statfsSync(dir);
    writeFileSync(filler, Buffer.alloc(Number(st.bavail * st.bsize) - 4.5 * 1024 * 1024));
    // Each write alone fits; the checkpoint carrying all of them would not: they must not all be taken.
    const codes = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => codeOf(s.handle('c:1', req('dict.set', 'D', { key: `k${i}`, a: enc(i) })))),
    );
    const ok = codes.filter((c) => c === undefined).length;
    expect(ok).toBeLessThan(2000);
    expect(codes.filter((c) => c !== undefined && c !== 'E_NO_SPACE')).toEqual([]);
    rmSync(filler);
    // A pending set that outgrew the disk would never fit a checkpoint again: this one does, and the journal empties.
    await until(() => journalBytes() === 0, 10_000, 'a checkpoint once space is back');
    expect(await s.handle('c:2', req('dict.size', 'D'))).toBe(ok);
    await s.handle('c:1', req('dict.set', 'D', { key: 'after', a: enc(1) }));
  });

  it("a dict's removal of 20,000 keys is not refused for pages the store does not have: it and a neighbour's write of its turn go through with 40 MB free", async () => {
    state = await open(dir, 'everysec');
    const s = state;
    for (let i = 0; i < 20_000; i += 1000) {
      await Promise.all(
        Array.from({ length: 1000 }, (_, j) => s.handle('c:1', req('dict.set', 'big', { key: `k${i + j}`, a: enc(i + j) }))),
      );
    }
    const filler = path.join(dir, 'filler');
    const st = statfsSync(dir);
    writeFileSync(filler, Buffer.alloc(Number(st.bavail * st.bsize) - 40 * 1024 * 1024));
    // 40,001 deletes, at 16 KiB a write: 655 MB asked before, where the whole tree is a few MB.
    const codes = await Promise.all([
      codeOf(s.handle('c:1', req('dict.remove', 'big'))),
      codeOf(s.handle('c:2', req('value.set', 'neighbour', { a: enc(1) }))),
    ]);
    expect(codes).toEqual([undefined, undefined]);
    expect(await s.handle('c:2', req('dict.size', 'big'))).toBe(0);
    rmSync(filler);
  });

  it('writes after a restart on a full disk follow the recovered frames: not after a damaged tail, nor before stale frames past a gap', async () => {
    // What a crash left: frames 2..6 (v0..v4), then damage in journal-0; in journal-1 frames 9-10 past a gap.
    state = await open(dir, 'everysec');
    await state.handle('c:1', req('value.set', 'seed', { a: enc(0) }));
    await state.close();
    state = undefined;
    const stateDir = path.join(dir, 'state');
    writeValueFrames(stateDir, 2, 5);
    appendFileSync(path.join(stateDir, 'journal-0'), Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, ...Array<number>(40).fill(7)]));
    const stale = tempDir();
    try {
      writeValueFrames(stale, 9, 2, () => 'stale');
      writeFileSync(path.join(stateDir, 'journal-1'), readFileSync(path.join(stale, 'journal-0')));
    } finally {
      cleanup(stale);
    }
    // Not a byte free: the damaged file cannot even be copied aside.
    const filler = fill(dir);
    const child = spawn(process.execPath, [fixture('full-restart.mjs'), compiled(), dir], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (out += chunk));
    await until(() => out.includes('\n'), 30_000, 'the restart on a full disk');
    const warnings = JSON.parse(out.slice(0, out.indexOf('\n'))) as string[];
    expect(warnings.join('\n')).toMatch(/journal-0 has a damaged frame: .*no copy could be kept/);
    expect(warnings.join('\n')).toMatch(/full: 5 journal frames stay in the journal/);
    rmSync(filler);
    child.stdin.write('go\n');
    await until(() => out.includes('acked'), 30_000, 'the writes after space returned');
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    state = await open(dir, 'always');
    const value = async (name: string): Promise<unknown> =>
      dec(((await state!.handle('c:2', req('value.get', name))) as { value: Uint8Array }).value);
    expect(await Promise.all(['v0', 'v4', 'y1', 'y2', 'y3'].map(value))).toEqual([0, 4, 'y1', 'y2', 'y3']);
    // The stale frames past the gap (v0 and v1 'stale') were never applied.
    expect(await value('v1')).toBe(1);
  });

  it('a restart on a full disk with frames left by kill -9 reads them, keeps them in the journal, and commits them once space returns', async () => {
    // Frames a crash left: 40 acknowledged writes in the journal, none of them in LMDB.
    state = await open(dir, 'everysec');
    await state.handle('c:1', req('value.set', 'seed', { a: enc(0) }));
    await state.close();
    state = undefined;
    writeValueFrames(path.join(dir, 'state'), 2, 40);
    const filler = fill(dir);
    state = await open(dir, 'everysec');
    const s = state;
    expect(s.warnings.join('\n')).toMatch(/full: 40 journal frames stay in the journal/);
    expect(dec(((await s.handle('c:2', req('value.get', 'v39'))) as { value: Uint8Array }).value)).toBe(39);
    expect(await codeOf(s.handle('c:1', req('value.set', 'x', { a: enc(1) })))).toBe('E_NO_SPACE');
    rmSync(filler);
    await until(() => journalBytes() === 0, 10_000, 'the recovered frames checkpointed');
    await s.handle('c:1', req('value.set', 'x', { a: enc(1) }));
    await s.close();
    state = await open(dir, 'always');
    expect(dec(((await state.handle('c:2', req('value.get', 'v0'))) as { value: Uint8Array }).value)).toBe(0);
    expect(dec(((await state.handle('c:2', req('value.get', 'x'))) as { value: Uint8Array }).value)).toBe(1);
  });
});

/**
 * Mounts a fresh tmpfs of `mb` MiB before each test of the block (`set` hears where); after it,
 * closes the state `take` hands back (and forgets) and unmounts.
 */
function useTmpfs(mb: number, set: (dir: string) => void, take: () => SharedState | undefined): void {
  let dir = '';
  beforeEach(() => {
    const m = mountTmpfs(mb);
    if ('skip' in m) throw new Error(m.skip);
    set((dir = m.dir));
  });
  afterEach(async () => {
    await take()?.close();
    unmount(dir);
  });
}
