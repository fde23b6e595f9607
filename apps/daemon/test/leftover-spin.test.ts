/**
 * An app whose every item leaves a process.nextTick loop behind (hostile review): on a daemon of
 * two workers and its reserve, on two cores, all three workers spin at once, each on two thirds
 * of a core or less. Each is still replaced (runnable and over 10% of a core, orphan-guard.ts), the restart
 * charged to the app whose chunk ran there last (it then holds one worker for 5 s), and a
 * neighbour's submits keep being answered. At 90% and charged to no one, no worker was replaced
 * and a neighbour's submit waited out its 20 s.
 */
import { expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { useDaemon, type TestDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';

let d: TestDaemon;
let a: Client;
useDaemon((x) => ({ d, client: a } = x), { workers: 2 });

it("an app whose items each leave a nextTick loop: every spinning worker is replaced, a neighbour's submits are answered", async () => {
  const b = await d.connect();
  const before = (await d.status()).workerRestarts;
  const spinning = a
    .map(
      (x: number) => {
        const spin = (): void => process.nextTick(spin);
        spin();
        return x;
      },
      Array.from({ length: 8 }, (_, i) => i),
      { chunkSize: 1 },
    )
    .catch(() => undefined);
  // The neighbour submits until two spinning workers have been replaced (2-6 s here), and for at
  // least 3 s; 20 s at most, which the assertion below then fails.
  const start = Date.now();
  let n = 0;
  let replaced = 0;
  while (Date.now() - start < 20_000 && (replaced < 2 || Date.now() - start < 3_000)) {
    expect(await b.submit((x: number) => x + 1, n, { signal: AbortSignal.timeout(15_000) })).toBe(n + 1);
    n++;
    replaced = (await d.status()).workerRestarts - before;
  }
  figure('leftoverSpin', { replacedAfterMs: Date.now() - start, submits: n });
  expect((await d.status()).workerRestarts - before).toBeGreaterThanOrEqual(2);
  await a.close();
  await spinning;
}, 60_000);
