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
  const end = Date.now() + 10_000;
  let n = 0;
  while (Date.now() < end) {
    expect(await b.submit((x: number) => x + 1, n, { signal: AbortSignal.timeout(15_000) })).toBe(n + 1);
    n++;
  }
  expect((await d.status()).workerRestarts - before).toBeGreaterThanOrEqual(2);
  await a.close();
  await spinning;
}, 60_000);
