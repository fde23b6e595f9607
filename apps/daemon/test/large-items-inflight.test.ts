/**
 * Many concurrent calls with large items: the SDK bounded what it had in
 * flight by chunks (256), not bytes, and the daemon queues at most 128 MiB of a
 * client's chunks (E_FLOW_CONTROL past that): 200 concurrent submits of 1 MB
 * items of 100 ms sent 200 MB at once, and 48 of them failed though nothing was
 * wrong with them. The SDK now keeps at most half of that in flight.
 */
import { expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';

it('180 concurrent submits of 1 MB items all resolve', { timeout: 120_000 }, async () => {
  await using d = await startDaemon({ workers: 2 });
  const c = await d.connect();
  // Items of 60 ms on two workers: most of the 180 MB waits in the daemon meanwhile.
  const items = Array.from({ length: 180 }, (_, i) => {
    const b = new Uint8Array(1_000_000);
    b[0] = i;
    return b;
  });
  const out = await Promise.allSettled(
    items.map((b) =>
      c.submit(async (x: Uint8Array) => {
        await new Promise((r) => setTimeout(r, 60));
        return x[0]! + x.length;
      }, b),
    ),
  );
  const failed = out.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason as { code?: string });
  expect(failed.map((e) => e.code)).toEqual([]);
  expect(out.map((o) => (o as PromiseFulfilledResult<number>).value)).toEqual(items.map((_, i) => i + 1_000_000));
});
