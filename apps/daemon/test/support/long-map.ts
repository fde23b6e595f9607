/**
 * A map longer than any test, of items that each hold a worker 2 ms without
 * using a core: the steady work of a busy client whose share a test reads
 * (its items done so far), cancelled at the end.
 */
import type { Client } from '@corepool/client';

/** Holds its worker `ms` without using a core. */
const holdMs = (ms: number): number => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return ms;
};

/** Starts `c`'s long map; `done()` counts its items so far, `stop()` cancels it. */
export function longMap(c: Client): { done: () => number; stop: () => Promise<void> } {
  const ac = new AbortController();
  let done = 0;
  const running = c
    .map(holdMs, Array<number>(1_000_000).fill(2), { signal: ac.signal, onProgress: (n) => (done = n) })
    .catch((err: unknown) => {
      if (!ac.signal.aborted) throw err;
    });
  return {
    done: () => done,
    stop: async () => {
      ac.abort();
      await running;
    },
  };
}
