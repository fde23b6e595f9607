/**
 * An honest app is not starved of lent workers by a co-tenant on
 * another daemon that floods the cluster with batches, or that stops reading
 * its results while it still has queued chunks (placement passes such a
 * client over: it must not be offered as demand to lenders either).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeData, sourceHash } from '@corepool/protocol';
import { startCluster } from '../support/cluster.js';
import { rawMap } from '../support/raw-map.js';
import { sleeperSource } from '../support/sleeper.js';
import { until } from '../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'corepool-cluster-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('review: honest apps beside flooding or stalled co-tenants', () => {
  it('an app flooding the cluster with batches does not keep every lent worker from an honest app that comes later', async () => {
    await using c = await startCluster(3, { workers: 1, args: [] });
    const [honestD, hostileD] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const lender = await c.add({ workers: 2 });
    await c.untilMembers(4);
    const lenderPids = new Set(await lender.workerPids());
    const hostile = await hostileD.raw({ hello: true });
    const floodLog = join(dir, 'flood.log');
    const flood = Array.from({ length: 4 }, () =>
      rawMap(
        hostile,
        sleeperSource(floodLog, 150),
        Array.from({ length: 80 }, (_, i) => i),
        { chunkSize: 1, deadlineMs: 55_000 },
      ).catch((e: unknown) => e),
    );
    await until(async () => (await lender.status()).workers.every((w) => w.busy), 15_000, 'the lender lending to the flood');
    const log = join(dir, 'late-honest.log');
    const sock = await honestD.raw({ hello: true });
    const items = Array.from({ length: 30 }, (_, i) => i);
    const out = await rawMap(sock, sleeperSource(log, 150), items, { chunkSize: 1, deadlineMs: 40_000 });
    expect(out.length).toBe(items.length);
    for (const [i, o] of out) expect(o.ok && (o.value as number[])[0]).toBe(i);
    // The honest app got lent workers although the flood had them all when it came.
    expect(out.filter(([, o]) => o.ok && lenderPids.has((o.value as number[])[1]!)).length).toBeGreaterThan(0);
    hostile.ws.terminate(); // the flood's rawMaps never complete now: their deadlines reject them, caught
    void flood;
  });

  it('an app that stops reading its results while its batch still has queued chunks does not hold the lent workers from an honest app', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [honestD, hostileD] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const lender = await c.add({ workers: 2 });
    await c.untilMembers(3);
    const lenderPids = new Set(await lender.workerPids());
    const hostile = await hostileD.raw({ hello: true });
    // Results of 256 KiB each, never read: the owner's send buffer fills and its scheduler holds the batch back.
    const src = `(x) => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); return 'y'.repeat(262144); }`;
    hostile.send({ type: 'batch.open', id: 11, task: { kind: 'source', hash: sourceHash(src), source: src }, timeoutMs: 0, retries: 0 });
    for (let i = 0; i < 400; i++) hostile.send({ type: 'batch.chunk', id: 11, start: i, count: 1, payload: encodeData([i]) });
    (hostile.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await until(async () => (await lender.status()).workers.some((w) => w.busy), 15_000, 'the lender lending to the stalled app');
    await new Promise((r) => setTimeout(r, 3_000)); // let its send buffer fill
    const log = join(dir, 'stalled-honest.log');
    const sock = await honestD.raw({ hello: true });
    const items = Array.from({ length: 30 }, (_, i) => i);
    const out = await rawMap(sock, sleeperSource(log, 150), items, { chunkSize: 1, deadlineMs: 40_000 });
    expect(out.length).toBe(items.length);
    for (const [i, o] of out) expect(o.ok && (o.value as number[])[0]).toBe(i);
    expect(out.filter(([, o]) => o.ok && lenderPids.has((o.value as number[])[1]!)).length).toBeGreaterThan(0);
    hostile.ws.terminate();
  });
});
