/**
 * A newcomer's urgent chunk that reaches its worker after the chunk it was to follow has ended.
 * The primary places it right behind the chunk it takes to be running (A); the worker may have
 * finished A and begun the next one (R) before the urgent chunk's run message is read, and then
 * runs it after R. The primary used to take it for the running chunk as soon as A's end was
 * heard: its first item's deadline ran while R ran, so a timed newcomer got E_TIMEOUT for an item
 * that never started, and its worker was killed under the other app's R. R awaiting a timer (the
 * worker reads the urgent chunk's run message during R and says it runs behind R), and R
 * spinning (the worker reads nothing until R ends: the urgent chunk is timed from R's end).
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { type TestDaemon, useDaemon } from './support/daemon.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x), { workers: 1 });

describe('an urgent chunk that comes after the chunk it was to follow has ended', () => {
  it.each([
    ['awaiting a timer', false],
    ['spinning', true],
  ])(
    "waits for the chunk that runs (R %s), untimed meanwhile: no E_TIMEOUT for an item that never started, no worker killed under the other app's chunk",
    async (_, spins) => {
      const newcomer = await d.connect({ name: 'newcomer' });
      const [pid] = await d.workerPids();
      const waited: number[] = [];
      for (let trial = 0; trial < 8; trial++) {
        // A (item 0): tells the newcomer it runs, then runs 8 ms without yielding (under the 10 ms after which a
        // worker reads its channel between chunks). R (item 1): 600 ms awaiting a timer, or spinning.
        const xs = client.map(
          async ([x, spin]: [number, boolean], ctx) => {
            if (x === 0) {
              await new Promise((r) => setTimeout(r, 1)); // the worker reads R's run message meanwhile
              ctx
                .queue('a-runs')
                .put(1)
                .catch(() => {});
              await Promise.resolve();
              const t = Date.now();
              while (Date.now() - t < 6) {
                /* A runs */
              }
              return -1;
            }
            if (spin) {
              const t = Date.now();
              while (Date.now() - t < 600) {
                /* R runs, reading nothing */
              }
            } else await new Promise((r) => setTimeout(r, 600));
            return Date.now();
          },
          [
            [0, spins],
            [1, spins],
          ],
          { chunkSize: 1 },
        );
        await newcomer.queue('a-runs').get();
        const ran = newcomer.submit(() => Date.now(), 0, { timeoutMs: 100 });
        const [, rEnded] = await xs;
        const at = await ran;
        expect(typeof at).toBe('number');
        if (at >= rEnded!) waited.push(trial);
      }
      // The race this is about was run (the newcomer's chunk waited behind R) in most trials, and the worker was never replaced.
      expect(waited.length).toBeGreaterThan(0);
      expect(await d.workerPids()).toEqual([pid]);
    },
    60_000,
  );
});
