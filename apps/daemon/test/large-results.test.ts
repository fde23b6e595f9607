/**
 * Results are bounded like items: one result larger than a frame may carry
 * fails that item alone with E_TOO_LARGE (never a cut-off client that
 * resubmits it forever), and a chunk whose results are each fine but too
 * large together arrives in several parts.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_PAYLOAD, ENVELOPE_BYTES, SEND_HIGH_WATER, type TooLargeError } from '@corepool/protocol/internal';
import type { Client } from '@corepool/client';
import { type TestDaemon, startDaemon, useDaemon } from './support/daemon.js';
import { rawMap } from './support/raw-map.js';
import { checkSet } from './support/checks.js';
import { until } from './support/wait.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

const LIMIT = DEFAULT_MAX_PAYLOAD - ENVELOPE_BYTES;
const MB = 1024 * 1024;

/** Rejects if `p` has not settled within `ms` (the bug was a promise that never settles). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** This client's id at the daemon: unchanged means it never reconnected. */
async function idOf(name: string): Promise<number[]> {
  return (await d.status()).clients.filter((c) => c.name === name).map((c) => c.id);
}

describe('large results', () => {
  it('a 50 MB result fails its item with E_TOO_LARGE (index, size and limit named); nothing is resubmitted', async () => {
    const c = await d.connect({ name: 'huge' });
    const before = await idOf('huge');
    const err = (await within(
      c
        .map((n: number) => Buffer.alloc(n), [50e6])
        .then(
          () => undefined,
          (e: unknown) => e,
        ),
      20_000,
    )) as TooLargeError;
    expect(err.code).toBe('E_TOO_LARGE');
    expect(err.index).toBe(0);
    expect(err.message).toContain(String(LIMIT));
    expect(err.message).toMatch(/5000\d{4} bytes/);
    const settled = await within(
      c.mapSettled((n: number) => Buffer.alloc(n, 7), [1000, 50e6, 2000], { chunkSize: 3 }),
      20_000,
    );
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(settled[1]!.status === 'rejected' && settled[1]!.reason.code).toBe('E_TOO_LARGE');
    expect(settled[1]!.status === 'rejected' && settled[1]!.reason.index).toBe(1);
    expect(settled[0]!.status === 'fulfilled' && (settled[0]!.value as Uint8Array).length).toBe(1000);
    expect(settled[2]!.status === 'fulfilled' && (settled[2]!.value as Uint8Array)[1999]).toBe(7);
    // The daemon never cut the client off: same connection, no slow-consumer event, still usable.
    expect(await c.map((x: number) => x + 1, [1, 2])).toEqual([2, 3]);
    expect(await idOf('huge')).toEqual(before);
    expect(d.events('slow-consumer')).toEqual([]);
  });

  it('five results of 7 MB in one chunk arrive, all five, in parts', async () => {
    const c = await d.connect({ name: 'parts' });
    const before = await idOf('parts');
    const out = await within(
      c.map((i: number) => Buffer.alloc(7 * 1024 * 1024, i), [1, 2, 3, 4, 5], { chunkSize: 5 }),
      30_000,
    );
    expect(out.map((b) => (b as Uint8Array).length)).toEqual([7 * MB, 7 * MB, 7 * MB, 7 * MB, 7 * MB]);
    expect(out.map((b) => [(b as Uint8Array)[0], (b as Uint8Array)[7 * MB - 1]])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
      [5, 5],
    ]);
    expect(await idOf('parts')).toEqual(before);
    expect(d.events('slow-consumer')).toEqual([]);
    // The parts left one at a time while the client read: never more than one past the high-water mark.
    const me = (await d.status()).clients.find((x) => x.name === 'parts')!;
    expect(me.maxSendBuffered!).toBeLessThanOrEqual(SEND_HIGH_WATER + LIMIT + ENVELOPE_BYTES);
    expect(await client.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
  });

  it('on the wire: the parts are chunk.result messages of their own sub-ranges, each within a frame, each item once', async () => {
    const sock = await d.raw({ hello: true });
    const outcomes = await rawMap(sock, '(i) => Buffer.alloc(3 * 1024 * 1024, i)', [0, 1, 2, 3, 4, 5, 6, 7], { chunkSize: 8 });
    const parts = sock.messages.filter((m) => m.type === 'chunk.result');
    expect(parts.length).toBeGreaterThan(1);
    for (const m of parts) expect((m.payload as Uint8Array).length).toBeLessThanOrEqual(LIMIT);
    expect(checkSet(8, outcomes, (i) => Buffer.alloc(3 * MB, i))).toEqual({ lost: [], duplicated: [], unexpected: [], wrong: [] });
    expect(parts.map((m) => [m.start, m.count])).toEqual([
      [0, 2],
      [2, 2],
      [4, 2],
      [6, 2],
    ]);
    sock.ws.terminate();
  });

  it('a client that does not read gets the parts as it reads again: kept unsent in the daemon, not past its hard cap', async () => {
    const sock = await d.raw({ hello: true });
    sock.ws.pause();
    const run = rawMap(sock, '(i) => Buffer.alloc(7 * 1024 * 1024, i)', [0, 1, 2, 3, 4], { chunkSize: 5 });
    await until(async () => (await d.status()).runningItems === 0 && (await d.status()).itemsDone > 0, 20_000, 'the chunk to finish');
    // A quiet window, not a state: the daemon gets time to push more than it may; the check is that it did not.
    await new Promise((r) => setTimeout(r, 200));
    const me = (await d.status()).clients.find((c) => c.name === '' && (c.maxSendBuffered ?? 0) > 0);
    expect(me, 'the client is still connected').toBeDefined();
    expect(me!.maxSendBuffered!).toBeLessThanOrEqual(SEND_HIGH_WATER + LIMIT + ENVELOPE_BYTES);
    sock.ws.resume();
    const outcomes = await run;
    expect(outcomes.map(([i, o]) => [i, o.ok && (o.value as Uint8Array)[0]])).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
    expect(d.events('slow-consumer')).toEqual([]);
    sock.ws.terminate();
  });

  it('a task error with a huge message is cut to size, not a frame the client cannot get', async () => {
    const [r] = await within(
      client.mapSettled(
        (n: number) => {
          throw new Error('x'.repeat(n));
        },
        [20e6],
      ),
      20_000,
    );
    expect(r!.status).toBe('rejected');
    expect(r!.status === 'rejected' && r!.reason.code).toBe('E_TASK_FAILED');
    expect(r!.status === 'rejected' && r!.reason.message.length).toBeLessThan(LIMIT);
  });

  it('--max-payload above the default: the SDK takes a result past the default frame limit, on the same link', async () => {
    // The SDK's socket opens with the largest limit a daemon can announce; the welcome's 16 MiB is the one it holds to.
    await using big = await startDaemon({ workers: 1, args: ['--max-payload', String(16 * MB)] });
    const c = await big.connect({ name: 'big-frames' });
    const ids = async (): Promise<number[]> => (await big.status()).clients.filter((x) => x.name === 'big-frames').map((x) => x.id);
    try {
      const before = await ids();
      const [r] = await within(
        c.map((n: number) => Buffer.alloc(n, 9), [12 * MB]),
        30_000,
      );
      expect((r as Uint8Array).length).toBe(12 * MB);
      expect((r as Uint8Array)[12 * MB - 1]).toBe(9);
      expect(await ids()).toEqual(before);
    } finally {
      await c.close();
    }
  });
});
