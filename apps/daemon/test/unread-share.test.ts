/**
 * A client that does not read what it was sent is passed over by placement (its send buffer is
 * over the high-water mark), so it takes no worker time and its virtual time lags the others'
 * (fair-share.ts). That lag must count for nothing: it is not where a newcomer starts, and the
 * client banks no credit for the time it read nothing. Before, a raw client that queued work and
 * stopped reading held the floor where it stopped: a newcomer 10 s later took both workers from a
 * busy neighbour until it caught up; and the client itself, reading again, took both workers for
 * about as long as it had read nothing. Either way the neighbour ran no item for seconds.
 */
import { expect, it } from 'vitest';
import { SEND_HIGH_WATER, encodeData, sourceHash } from '@corepool/protocol/internal';
import { useDaemon, type TestDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';
import { longMap } from './support/long-map.js';
import type { RawSocket } from './support/raw-socket.js';
import { until } from './support/wait.js';

let d: TestDaemon;
useDaemon((x) => ({ d } = x));

/**
 * How long the neighbour runs alone beside the client that reads nothing. Before, the lag that built up
 * meanwhile cost the neighbour every item for about that long (or half of it): over the 3 s measured a
 * second after, it ran none, or a fraction of what the 0.2 bound asks.
 */
const ALONE_MS = 7_000;

/**
 * A raw client that queues work and stops reading: four batches of 64 results of 200 KB each take its
 * send buffer over the high-water mark, and a batch of 500 chunks of 50 items of 2 ms waits behind them.
 */
async function stopsReading(): Promise<RawSocket> {
  const sock = await d.raw({ hello: true });
  sock.ws.pause();
  const big = '(x) => "y".repeat(200000)';
  for (let id = 1; id <= 4; id++) {
    sock.send({
      type: 'batch.open',
      id,
      task: { kind: 'source', hash: sourceHash(big), source: big },
      timeoutMs: 0,
      retries: 0,
      first: { start: 0, count: 64, payload: encodeData(Array.from({ length: 64 }, (_, i) => i)), final: true },
    });
  }
  const work = `(x) => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2); return x; }`;
  sock.send({ type: 'batch.open', id: 100, task: { kind: 'source', hash: sourceHash(work), source: work }, timeoutMs: 0, retries: 0 });
  for (let k = 0; k < 500; k++) {
    const payload = encodeData(Array<number>(50).fill(0));
    sock.send({ type: 'batch.chunk', id: 100, start: k * 50, count: 50, payload, final: k === 499 });
  }
  await until(
    async () => (await d.status()).clients.some((c) => (c.sendBuffered ?? 0) > SEND_HIGH_WATER),
    20_000,
    'the raw client over its high-water mark',
  );
  return sock;
}

/** The neighbour's items a second over the `ms` that follow, after `skipMs` (chunks already placed run out first). */
async function rateOver(n: { done: () => number }, skipMs: number, ms: number): Promise<number> {
  await new Promise((r) => setTimeout(r, skipMs));
  const before = n.done();
  await new Promise((r) => setTimeout(r, ms));
  return ((n.done() - before) * 1000) / ms;
}

it('a client that stopped reading is not where a newcomer starts: a busy neighbour keeps its share', async () => {
  const sock = await stopsReading();
  const neighbour = longMap(await d.connect({ name: 'neighbour' }));
  const newcomerClient = await d.connect({ name: 'newcomer' });
  try {
    await new Promise((r) => setTimeout(r, ALONE_MS));
    const alone = neighbour.done() / (ALONE_MS / 1000);
    const newcomer = longMap(newcomerClient);
    try {
      await until(() => newcomer.done() > 0, 10_000, "the newcomer's first items");
      const rate = await rateOver(neighbour, 1_000, 3_000);
      figure('unreadShare.besideNewcomer', (rate / alone).toFixed(2));
      // Half the two workers it had alone (0.5); before, none for about as long as the neighbour was alone.
      expect(rate).toBeGreaterThan(0.2 * alone);
    } finally {
      await newcomer.stop();
    }
  } finally {
    await neighbour.stop();
    sock.ws.terminate();
  }
}, 60_000);

it('a client that read nothing for a while banks nothing: reading again, it takes its share, not every worker', async () => {
  const sock = await stopsReading();
  const neighbour = longMap(await d.connect({ name: 'neighbour' }));
  try {
    await new Promise((r) => setTimeout(r, ALONE_MS));
    const alone = neighbour.done() / (ALONE_MS / 1000);
    sock.ws.resume();
    const rate = await rateOver(neighbour, 1_000, 3_000);
    figure('unreadShare.afterReadingAgain', (rate / alone).toFixed(2));
    // Half the two workers it had alone (0.5); before, none for about half as long as it read nothing.
    expect(rate).toBeGreaterThan(0.2 * alone);
  } finally {
    await neighbour.stop();
    sock.ws.terminate();
  }
}, 60_000);
