/**
 * run-queue.ts alone: where a run message goes in a worker's queue. An urgent
 * chunk goes right behind the chunk the primary took to be running if the
 * worker has not started that one, else first; others go last.
 */
import { describe, expect, it } from 'vitest';
import { sourceHash } from '@corepool/protocol/internal';
import type { RunMessage } from '../src/ipc.js';
import { queueRun } from '../src/worker/run-queue.js';

const TASK = { kind: 'source', hash: sourceHash('(x) => x'), source: '(x) => x' } as const;

function run(key: number, urgent = false, after?: number): RunMessage {
  return {
    t: 'run',
    key,
    task: TASK,
    payload: new Uint8Array(0),
    offset: 0,
    count: 1,
    start: 0,
    timed: false,
    urgent,
    ...(after === undefined ? {} : { after }),
    realm: 'r',
  };
}

const keys = (q: RunMessage[]): number[] => q.map((m) => m.key);

describe("a worker's queue of chunks", () => {
  it('a chunk that is not urgent goes last', () => {
    const q = [run(1), run(2)];
    queueRun(q, run(3));
    expect(keys(q)).toEqual([1, 2, 3]);
  });

  it('an urgent chunk goes right behind the chunk the primary took to be running, if this worker has not started it', () => {
    // The worker was reading its socket between chunks: 1 ended, 2 is next, and the primary has already heard 1 end.
    const q = [run(2), run(3)];
    queueRun(q, run(9, true, 2));
    expect(keys(q)).toEqual([2, 9, 3]);
  });

  it('an urgent chunk goes first when the chunk it goes behind has started (or ended), or it names none', () => {
    const q = [run(3), run(4)];
    // 2 runs now (or has ended): 9 is next, and the `after` it missed is returned for the runner to report.
    expect(queueRun(q, run(9, true, 2))).toBe(2);
    expect(keys(q)).toEqual([9, 3, 4]);
    expect(queueRun(q, run(8, true))).toBeUndefined();
    expect(keys(q)).toEqual([8, 9, 3, 4]);
    const empty: RunMessage[] = [];
    expect(queueRun(empty, run(7, true, 5))).toBe(5);
    expect(keys(empty)).toEqual([7]);
    expect(queueRun(empty, run(6))).toBeUndefined();
    expect(queueRun(q, run(5, true, 3))).toBeUndefined(); // 3 waits here: 5 goes right behind it
  });

  it("a task's Array species, constructor or Object.prototype.after changes nothing", () => {
    const species = Object.getOwnPropertyDescriptor(Array, Symbol.species)!;
    const ctor = Object.getOwnPropertyDescriptor(Array.prototype, 'constructor')!;
    const boom = (): never => {
      throw new Error('replaced by a task');
    };
    const restore = (): void => {
      Object.defineProperty(Array, Symbol.species, species);
      Object.defineProperty(Array.prototype, 'constructor', ctor);
      delete (Object.prototype as { after?: unknown }).after;
    };
    try {
      Object.defineProperty(Array, Symbol.species, { get: boom, configurable: true });
      Object.defineProperty(Array.prototype, 'constructor', { get: boom, configurable: true });
      Object.defineProperty(Object.prototype, 'after', { get: boom, configurable: true });
      const q = [run(2), run(3)];
      queueRun(q, run(9, true, 2));
      queueRun(q, run(8, true));
      restore();
      expect(keys(q)).toEqual([8, 2, 9, 3]);
    } finally {
      restore();
    }
  });

  it('a task that replaced the array methods changes nothing', () => {
    const saved = { splice: Array.prototype.splice, unshift: Array.prototype.unshift, push: Array.prototype.push };
    const boom = (): never => {
      throw new Error('replaced by a task');
    };
    try {
      Array.prototype.splice = boom;
      Array.prototype.unshift = boom;
      Array.prototype.push = boom;
      const q = [run(2), run(3)];
      queueRun(q, run(9, true, 2));
      queueRun(q, run(8, true, 7));
      queueRun(q, run(4));
      Object.assign(Array.prototype, saved);
      expect(keys(q)).toEqual([8, 2, 9, 3, 4]);
    } finally {
      Object.assign(Array.prototype, saved);
    }
  });
});
