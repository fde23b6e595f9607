/**
 * A lone batch runs long chunks (its daemon's welcome says so); a client that
 * arrives gets a worker after the item running there, not after the chunk:
 * the worker cuts its chunk short, the rest runs later, every item once. Told
 * from the items' own clocks, not from timings: an item of the newcomer runs
 * between two items of one chunk of the lone batch. Beside it, an app whose
 * task closes or floods its worker's guard socket, so that no cut reaches that
 * worker: nothing is lost, and the newcomer is still served.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CUT_SOLO_CHUNK_TARGET_MS, parseServerMessage } from '@corepool/protocol/internal';
import type { TaskContext } from '@corepool/client';
import { type TestDaemon, startDaemon, useDaemon } from './support/daemon.js';
import { untilRunning } from './support/wait.js';

let d: TestDaemon;
useDaemon((x) => ({ d } = x));

/** Holds its worker's core ~`ms` (a synchronous task: the worker reads no message meanwhile); reports where and when it ran. */
const stamp = (x: number, ctx: TaskContext): [number, number, number] => {
  const t = Number(process.hrtime.bigint()) / 1e6;
  const end = Date.now() + 4;
  while (Date.now() < end);
  return [x, ctx.pid, t];
};

/** Item x's chunk when the batch is sent in chunks of `size`. */
const chunkOf = (x: number, size: number): number => Math.floor(x / size);

describe('cutting a chunk short for a client that arrives', () => {
  it('says so in its welcome: clients alone size longer chunks on this daemon', () => {
    expect(
      parseServerMessage({ type: 'welcome', v: 1, clientId: 1, workers: 2, pid: 1, soloChunkMs: CUT_SOLO_CHUNK_TARGET_MS }),
    ).toMatchObject({ soloChunkMs: CUT_SOLO_CHUNK_TARGET_MS });
    // A daemon asking for more than the protocol allows gets the most it allows.
    expect(parseServerMessage({ type: 'welcome', v: 1, clientId: 1, workers: 2, pid: 1, soloChunkMs: 1e9 }).type).toBe('welcome');
  });

  it("a newcomer's item runs between two items of a lone batch's chunk; that batch gets every result once, in order", async () => {
    const a = await d.connect({ name: 'lone' });
    const b = await d.connect({ name: 'newcomer' });
    const size = 250; // ~1 s of items a chunk, on each of the two workers
    const items = Array.from({ length: 2 * size }, (_, i) => i);
    const big = a.map(stamp, items, { chunkSize: size });
    await untilRunning(() => d.status(), 'lone');
    await new Promise((r) => setTimeout(r, 100)); // past CUT_NOT_BEFORE_MS into the chunks
    const [, pid, at] = await b.submit(stamp, -1);
    const out = await big;
    expect(out.map(([x]) => x)).toEqual(items);
    // The newcomer's worker had started one of the batch's chunks before the newcomer's item, and
    // that chunk's later items ran after it: it was cut, not run whole first.
    const before = out.filter(([, p, t]) => p === pid && t < at).map(([x]) => chunkOf(x, size));
    expect(before.length).toBeGreaterThan(0);
    const cutChunk = before[before.length - 1]!;
    expect(out.some(([x, , t]) => chunkOf(x, size) === cutChunk && t > at)).toBe(true);
  });

  it('an app whose task closes its worker’s guard socket, or reads it, costs no item, and a newcomer is still served', async () => {
    const hostile = await d.connect({ name: 'guard-breaker' });
    // One closes fd 5; one reads it itself, racing the guard thread for the requests (on either worker, or both on one).
    const broke = await hostile.map(
      (kind: string) => {
        if (kind === 'close') process.getBuiltinModule('node:fs').closeSync(5);
        else {
          try {
            new (process.getBuiltinModule('node:net').Socket)({ fd: 5, readable: true, writable: false }).on('data', () => {}).unref();
          } catch (err) {
            // Both items on one worker, 'close' first: fd 5 is gone before 'read' opens it.
            if (!/Unsupported fd type/.test(String(err))) throw err;
          }
        }
        return kind;
      },
      ['close', 'read'],
      { chunkSize: 1 },
    );
    expect(broke).toEqual(['close', 'read']);
    const a = await d.connect({ name: 'lone-2' });
    const b = await d.connect({ name: 'newcomer-2' });
    const size = 100;
    const items = Array.from({ length: 4 * size }, (_, i) => i);
    const big = a.map(stamp, items, { chunkSize: size });
    await untilRunning(() => d.status(), 'lone-2');
    const mine = await b.map((x: number) => x * 3, [1, 2, 3], { chunkSize: 1 });
    expect(mine).toEqual([3, 6, 9]);
    expect((await big).map(([x]) => x)).toEqual(items);
    expect(await a.submit((x: number) => x + 1, 1)).toBe(2);
  });

  it('a client that leaves mid-batch: its running chunks stop after the item they run, not at their end', async () => {
    // The abort travels on the channel, which a chunk of synchronous items reads only at its end; the cut request,
    // on the guard socket, is seen between items. Told from the items' own clocks: what ran after the client left.
    // A daemon of its own: the test before leaves a worker whose task closed its guard socket (deaf to cuts).
    await using own = await startDaemon();
    const dir = mkdtempSync(join(tmpdir(), 'corepool-cut-gone-'));
    const file = join(dir, 'ran');
    try {
      const gone = await own.connect({ name: 'gone' });
      const size = 250; // ~1 s of 4 ms items a chunk, on each of the two workers
      const items = Array.from({ length: 4 * size }, (_, i) => ({ file, i }));
      const run = gone.map(
        (x: { file: string; i: number }) => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports -- a task is sent as source: it cannot import
          (require('node:fs') as typeof import('node:fs')).appendFileSync(x.file, `${Date.now()}\n`);
          const end = Date.now() + 4;
          while (Date.now() < end);
          return x.i;
        },
        items,
        { chunkSize: size },
      );
      run.catch(() => {});
      await untilRunning(() => own.status(), 'gone');
      await new Promise((r) => setTimeout(r, 150)); // into the chunks
      await gone.close();
      const left = Date.now();
      await new Promise((r) => setTimeout(r, 1500)); // past where the chunks would have ended
      const after = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => Number(l) > left + 200).length;
      // Run whole, each worker's chunk would have gone on for most of a second: ~150 items or more after that point.
      expect(after).toBeLessThan(40);
      expect(await (await own.connect()).submit((x: number) => x + 1, 1)).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
