/**
 * corepool's helper threads (the primary's process watch, each worker's
 * orphan guard) are made without V8's memory reducer, which would otherwise
 * run full collections on them some seconds after they boot, on the cores
 * tasks use; the process's own isolate keeps its reducer. Each case is a real
 * node process whose isolates fill and drop tens of MB with the reducer's
 * start delay shortened: an isolate that has a reducer says so in
 * --trace-gc-verbose ("Memory reducer: ..."), one without says nothing. The
 * thread started plainly does (so the check can tell), the one started
 * through startHelperThread does not, and the main isolate does in both.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { startHelperThread } from '../src/helper-thread.js';
import { startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

const SCRIPT = fileURLToPath(new URL('./apps/helper-thread-gc.mjs', import.meta.url));
const HELPER = new URL('../dist/helper-thread.js', import.meta.url).href;
const FLAGS = ['--trace-gc', '--trace-gc-verbose', '--gc-memory-reducer-start-delay-ms=300'];

interface Traced {
  /** The first isolate traced: the process's own. */
  main: string;
  /** Every other isolate traced: the thread's. */
  others: Set<string>;
  /** Isolates whose memory reducer ran its timer. */
  reducing: Set<string>;
}

function traced(mode: 'helper' | 'plain'): Promise<Traced> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...FLAGS, SCRIPT, HELPER, mode, '1500'],
      { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => {
        if (err) return reject(err);
        let main: string | undefined;
        const others = new Set<string>();
        const reducing = new Set<string>();
        for (const line of stdout.split('\n')) {
          const m = /^\[\d+:(0x[0-9a-f]+)\]\s+[\d.]+ ms: (.*)$/.exec(line);
          if (m === null) continue;
          const isolate = m[1]!;
          main ??= isolate;
          if (isolate !== main) others.add(isolate);
          if (m[2]!.startsWith('Memory reducer:')) reducing.add(isolate);
        }
        if (main === undefined) return reject(new Error(`nothing traced:\n${stdout.slice(0, 2000)}`));
        resolve({ main, others, reducing });
      },
    );
  });
}

describe('helper threads', () => {
  it('a helper thread has no memory reducer, a plain thread has one, and the main isolate keeps its own', async () => {
    // The plain thread is the control: on a loaded machine its reducer's timer can miss the
    // process's exit, and then the pair says nothing about the helper. Such a pair is run again.
    let [helper, plain] = await Promise.all([traced('helper'), traced('plain')]);
    for (let again = 0; again < 2 && ![...plain.others].every((a) => plain.reducing.has(a)); again++)
      [helper, plain] = await Promise.all([traced('helper'), traced('plain')]);
    expect(plain.others.size).toBe(1);
    expect([...plain.others].every((a) => plain.reducing.has(a))).toBe(true);
    expect(plain.reducing.has(plain.main)).toBe(true);
    expect(helper.others.size).toBe(1);
    expect([...helper.others].some((a) => helper.reducing.has(a))).toBe(false);
    expect(helper.reducing.has(helper.main)).toBe(true);
  });

  it('turns the reducer back on once the thread is online, or has exited, or could not be made', () => {
    const online = new EventEmitter();
    const exited = new EventEmitter();
    const flags: string[] = [];
    const set = (f: string): void => void flags.push(f);
    startHelperThread(() => online as unknown as Worker, set);
    expect(flags).toEqual(['--no-memory-reducer']);
    online.emit('online');
    online.emit('exit', 0);
    expect(flags).toEqual(['--no-memory-reducer', '--memory-reducer']);
    flags.length = 0;
    startHelperThread(() => exited as unknown as Worker, set);
    exited.emit('exit', 1);
    expect(flags).toEqual(['--no-memory-reducer', '--memory-reducer']);
    flags.length = 0;
    expect(() =>
      startHelperThread(() => {
        throw new Error('no thread');
      }, set),
    ).toThrow('no thread');
    expect(flags).toEqual(['--no-memory-reducer', '--memory-reducer']);
  });

  it("in a daemon's worker: the guard thread has no reducer, and the worker's own is back even after a task replaced setFlagsFromString", async () => {
    const before = process.env.COREPOOL_WORKER_NODE_ARGS;
    process.env.COREPOOL_WORKER_NODE_ARGS = FLAGS.join(' ');
    let d: Awaited<ReturnType<typeof startDaemon>>;
    try {
      d = await startDaemon({ workers: 1 });
    } finally {
      if (before === undefined) delete process.env.COREPOOL_WORKER_NODE_ARGS;
      else process.env.COREPOOL_WORKER_NODE_ARGS = before;
    }
    await using daemon = d;
    const hostile = await daemon.connect();
    const other = await daemon.connect();
    // The first chunk of the worker's life: its guard thread has just been started, the flag is off until the
    // worker's event loop hears the thread is online, after this task. The task replaces the export meanwhile.
    const hijack = (): string => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a task is sent as source: it cannot import
      const v8 = require('node:v8') as { setFlagsFromString: (f: string) => void };
      v8.setFlagsFromString = () => {
        throw new Error('hijacked');
      };
      return 'replaced';
    };
    expect(await hostile.submit(hijack, undefined)).toBe('replaced');
    // Then tens of MB filled and dropped on the worker's main isolate: its reducer, if it has one, arms and says so.
    const churn = (n: number): number => {
      const fill = (): number => {
        const keep: { i: number }[] = [];
        for (let i = 0; i < n; i++) keep.push({ i });
        return keep.length;
      };
      const length = fill();
      let g: unknown;
      for (let j = 0; j < 2_000_000; j++) g = { j, k: [j] };
      return g === undefined ? -1 : length;
    };
    expect(await other.submit(churn, 1_500_000)).toBe(1_500_000);
    expect(await other.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
    const lines = (): string[] => daemon.events('worker-output').map((e) => String(e.line));
    const isolate = (line: string): string | undefined => /^\[\d+:(0x[0-9a-f]+)\]/.exec(line)?.[1];
    // The worker's main isolate is the one that collected the task's tens of MB (the guard's heap stays under 10).
    const mainOf = (): string | undefined => {
      for (const line of lines()) {
        const m = /^\[\d+:(0x[0-9a-f]+)\]\s+[\d.]+ ms: Mark-Compact ([\d.]+)/.exec(line);
        if (m !== null && Number(m[2]) > 15) return m[1];
      }
      return undefined;
    };
    await until(
      () => {
        const main = mainOf();
        return main !== undefined && lines().some((l) => isolate(l) === main && l.includes('Memory reducer:'));
      },
      20_000,
      "the worker's own memory reducer",
    );
    const main = mainOf()!;
    const reducing = new Set(
      lines()
        .filter((l) => l.includes('Memory reducer:'))
        .map(isolate),
    );
    expect([...reducing]).toEqual([main]);
    expect(daemon.events('worker-exit')).toEqual([]);
  });
});
