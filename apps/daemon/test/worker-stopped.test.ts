/**
 * A SIGSTOPped worker never answers: after a few seconds stopped it is killed
 * and replaced (log event worker-stopped), so an untimed batch with a chunk on
 * it completes instead of waiting forever.
 */
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

it('an untimed batch completes when the worker running its chunk is stopped; the worker is replaced', async () => {
  await using d = await startDaemon({ workers: 1 });
  const client = await d.connect();
  const [stopped] = await d.workerPids();
  const run = client.map(
    async (x: number) => {
      await new Promise((r) => setTimeout(r, 300));
      return x * 3;
    },
    Array.from({ length: 10 }, (_, i) => i),
    { chunkSize: 2 },
  );
  await until(async () => (await d.status()).runningItems > 0, 10_000, 'a running chunk');
  process.kill(stopped!, 'SIGSTOP');
  try {
    expect(await run).toEqual(Array.from({ length: 10 }, (_, i) => i * 3));
  } finally {
    try {
      process.kill(stopped!, 'SIGCONT');
    } catch {
      /* killed, as it should be */
    }
  }
  expect(d.events('worker-stopped').map((e) => e.pid)).toEqual([stopped]);
  const now = await d.workerPids();
  expect(now).toHaveLength(1);
  expect(now).not.toContain(stopped);
}, 60_000);
