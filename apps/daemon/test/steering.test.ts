/**
 * Steering on a real daemon (issue 12): a batch's priority orders one
 * client's own batches and never another client's; a client's weight sets
 * its share of worker time, bounded by the daemon (--max-client-weight) or
 * set by the operator (--client-weight); a cap on workers held at once
 * (maxWorkers, --client-max-workers) holds even with the pool idle; bad
 * values get coded errors. Shares are measured in worker time, from the
 * items' own start and end times, over the window where both clients had
 * work, and asserted within generous bands; orderings, never timings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { encodeData, sourceHash } from '@corepool/protocol';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';
import { longMap } from './support/long-map.js';
import { until } from './support/wait.js';

/** Holds its worker `ms` without using a core (so two noisy cores do not skew shares), and says when it ran (on the monotonic clock every process shares). */
const hold = (ms: number): [number, number] => {
  const start = Number(process.hrtime.bigint()) / 1e6;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return [start, Number(process.hrtime.bigint()) / 1e6];
};

/** Worker time of each client's intervals within the window where every client had work. */
function sharesWhileAllBusy(runs: [number, number][][]): number[] {
  const from = Math.max(...runs.map((r) => Math.min(...r.map(([s]) => s))));
  const to = Math.min(...runs.map((r) => Math.max(...r.map(([, e]) => e))));
  expect(to).toBeGreaterThan(from);
  return runs.map((r) => r.reduce((sum, [s, e]) => sum + Math.max(0, Math.min(e, to) - Math.max(s, from)), 0));
}

/** Most intervals open at once. */
function mostAtOnce(runs: [number, number][]): number {
  const edges = runs.flatMap(([s, e]) => [
    [s, 1],
    [e, -1],
  ]);
  edges.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!); // an end before a start at the same instant
  let open = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (open += d!));
  return most;
}

describe('priority', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon({ workers: 1 });
  });
  afterAll(async () => {
    await d?.[Symbol.asyncDispose]();
  });

  it("a client's high-priority batch runs ahead of its own low-priority one started first", async () => {
    const client = await d.connect({ name: 'prio' });
    let lowDone = 0;
    const total = 120;
    const low = client.map(hold, Array<number>(total).fill(5), { chunkSize: 1, onProgress: (n) => (lowDone = n) });
    await until(() => lowDone > 0, 30_000, 'the low-priority batch under way');
    const high = await client.map(hold, Array<number>(total).fill(5), { chunkSize: 1, priority: 10 });
    const lowWhenHighDone = lowDone;
    expect(high).toHaveLength(total);
    // Round-robin would have run about as many of the low batch meanwhile (about total / 2 more).
    expect(lowWhenHighDone).toBeLessThan(total / 4);
    expect(await low).toHaveLength(total);
    figure('priority.lowDoneWhenHighFinished', `${lowWhenHighDone}/${total}`);
  });

  it('submit, imap and mapSettled take a priority too', async () => {
    const client = await d.connect({ name: 'prio-calls' });
    // Forty low submits queued first, then five high ones: the high ones finish while most low ones wait.
    let lowDone = 0;
    const lows = Array.from({ length: 40 }, () => client.submit(hold, 20).then(() => lowDone++));
    await until(() => lowDone > 0, 30_000, 'a low submit done');
    await Promise.all(Array.from({ length: 5 }, () => client.submit(hold, 20, { priority: 5 })));
    expect(lowDone).toBeLessThan(20);
    await Promise.all(lows);
    const streamed: number[] = [];
    for await (const r of client.imap((x: number) => x * 2, [1, 2, 3], { priority: -3 })) streamed.push(r);
    expect(streamed).toEqual([2, 4, 6]);
    expect(await client.mapSettled((x: number) => x + 1, [1], { priority: 1000 })).toEqual([{ status: 'fulfilled', value: 2 }]);
  });

  it("one client's top priority does not starve another client's lowest", async () => {
    const greedy = await d.connect({ name: 'greedy' });
    const other = await d.connect({ name: 'other' });
    let greedyDone = 0;
    const total = 400;
    const run = greedy.map(hold, Array<number>(total).fill(5), { priority: 1000, onProgress: (n) => (greedyDone = n) });
    await until(() => greedyDone > 0, 30_000, 'the greedy batch under way');
    const mine = await other.map(hold, [5, 5, 5, 5], { priority: -1000 });
    const theirs = await run;
    expect(theirs).toHaveLength(total);
    // Read off the items' own times on the worker, not off when this process heard of them (on a
    // loaded machine the other batch's results reached the test late, once with 199 of 300 greedy
    // items done by then). Starved, the other client's items would all run after the greedy batch;
    // shared, most of the greedy batch is still to run when they are done: a stall of up to ~1.5 s
    // of this process before it sends the other batch still leaves a quarter.
    const otherLast = Math.max(...mine.map(([, e]) => e));
    const greedyAfter = theirs.filter(([s]) => s >= otherLast).length;
    figure('priority.greedyItemsAfterOther', `${greedyAfter}/${total}`);
    expect(greedyAfter).toBeGreaterThan(total / 4);
  });

  it('a small batch beside a greedy one on a lone worker waits for a few of its items, not for whole chunks of them', async () => {
    // The greedy batch's chunks are ~500 ms (~96 items) while it is alone. A newcomer's chunk sent while a
    // one-item chunk ran used to be read after the next of those, which nothing cut (13 of 20 rounds, measured).
    const between: number[] = [];
    for (let round = 0; round < 5; round++) {
      const greedy = await d.connect({ name: `greedy-${round}` });
      const other = await d.connect({ name: `small-${round}` });
      let greedyDone = 0;
      const run = greedy.map(hold, Array<number>(200).fill(5), { onProgress: (n) => (greedyDone = n) });
      await until(() => greedyDone > 0, 30_000, 'the greedy batch under way');
      const mine = await other.map(hold, [5, 5, 5, 5]);
      const theirs = await run;
      const first = Math.min(...mine.map(([s]) => s));
      const last = Math.max(...mine.map(([, e]) => e));
      between.push(theirs.filter(([s]) => s > first && s < last).length);
      await Promise.all([greedy.close(), other.close()]);
    }
    between.sort((a, b) => a - b);
    figure('priority.greedyItemsWithinSmallBatch', between.join(','));
    // Orderings off the worker's own times: no round let in as many greedy items as half a chunk. One round in five
    // or so did while the rest of a greedy chunk cut for the small batch could come back ahead of it (fair-share.ts).
    expect(between.at(-1)).toBeLessThan(50);
  });

  it("newcomers that keep arriving with long first items, half of them vanishing at once, time out none of a neighbour's timed items", async () => {
    // Each newcomer's first chunk goes urgent, right behind the chunk the primary takes to be running, on the one
    // worker the neighbour's timed chunks (20 ms or more: the worker reads its socket between them) are using. The
    // neighbour loses no item and none times out; the newcomers that stay get their whole item. (The race where an
    // urgent chunk ran ahead of the chunk the primary timed is too narrow to hit here: run-queue.unit.test.ts.)
    const timed = await d.connect({ name: 'timed' });
    let timedDone = 0;
    const run = timed.map(hold, Array<number>(120).fill(10), { timeoutMs: 200, onProgress: (n) => (timedDone = n) });
    await until(() => timedDone > 0, 30_000, 'the timed batch under way');
    const kept: Promise<[number, number]>[] = [];
    for (let k = 0; k < 8 && timedDone < 100; k++) {
      const newcomer = await d.connect({ name: `newcomer-${k}` });
      const item = newcomer.submit(hold, 150);
      if (k % 2 === 0) {
        item.catch(() => {}); // it goes with its app
        await newcomer.close();
      } else {
        kept.push(item.finally(() => newcomer.close()));
      }
      await new Promise((r) => setTimeout(r, 40));
    }
    const theirs = await run; // rejects with E_TIMEOUT if any item of it timed out
    expect(theirs).toHaveLength(120);
    for (const [s, e] of await Promise.all(kept)) expect(e - s).toBeGreaterThanOrEqual(140);
    const st = await d.status();
    expect(st.clients.find((c) => c.name === 'timed')).toBeDefined();
  });

  it('a bad priority is refused: E_BAD_ARGUMENT from the SDK, E_BAD_MESSAGE on the wire', async () => {
    const client = await d.connect();
    for (const priority of [1.5, 1001, -1001, Number.NaN, '1' as unknown as number]) {
      await expect(client.map((x: number) => x, [1], { priority })).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
      await expect(client.submit((x: number) => x, 1, { priority })).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    }
    const raw = await d.raw({ hello: true });
    const source = '(x) => x';
    raw.send({
      type: 'batch.open',
      id: 1,
      task: { kind: 'source', hash: sourceHash(source), source },
      timeoutMs: 0,
      retries: 0,
      priority: 1e9,
      first: { type: 'batch.chunk', id: 1, start: 0, count: 1, payload: encodeData([1]), final: true },
    });
    const err = await raw.next((m) => m.type === 'error' || m.type === 'batch.error' || m.type === 'chunk.result');
    expect(err).toMatchObject({ error: { code: 'E_BAD_MESSAGE' } });
    expect(String((err.error as { message: string }).message)).toMatch(/priority/);
    raw.ws.close();
  });
});

describe('weights and caps', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon({ workers: 2, args: ['--client-weight', 'ops-set=3', '--client-max-workers', 'ops-capped=1'] });
  });
  afterAll(async () => {
    await d?.[Symbol.asyncDispose]();
  });

  /** Two clients run long batches side by side, in chunks of one shape (2 x 10 ms); their worker time while both had work. */
  async function race(a: Client, b: Client, items = 300): Promise<number[]> {
    const run = (c: Client): Promise<[number, number][]> => c.map(hold, Array<number>(items).fill(10), { chunkSize: 2 });
    const [ra, rb] = await Promise.all([run(a), run(b)]);
    return sharesWhileAllBusy([ra, rb]);
  }

  it('weight 2 gets about twice the worker time of weight 1 while both have work', async () => {
    const heavy = await d.connect({ name: 'heavy', weight: 2 });
    const light = await d.connect({ name: 'light' });
    const [h, l] = await race(heavy, light);
    const ratio = h! / l!;
    figure('weights.2to1', ratio.toFixed(2));
    expect(ratio).toBeGreaterThan(1.4);
    expect(ratio).toBeLessThan(2.8);
    const st = await d.status();
    expect(st.clients.find((c) => c.name === 'heavy')).toMatchObject({ weight: 2 });
    expect(st.clients.find((c) => c.name === 'light')).toMatchObject({ weight: 1 });
  });

  it('a hostile client declaring weight 1000 is clamped to --max-client-weight (4) and told so; its co-tenant keeps its share', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    const hostile = await d.connect({ name: 'hostile', weight: 1000 });
    const polite = await d.connect({ name: 'polite' });
    try {
      const st = await d.status();
      expect(st.clients.find((c) => c.name === 'hostile')).toMatchObject({ weight: 4 });
      await until(() => warnings.some((m) => /weight 1000 asked, 4 given/.test(m)), 5_000, 'the clamp warning');
      expect(d.events('client-steering').some((e) => e.name === 'hostile')).toBe(true);
      const [h, p] = await race(hostile, polite);
      const ratio = h! / p!;
      figure('weights.hostile1000vs1', ratio.toFixed(2));
      // Weight 4 against 1: the polite client keeps about a fifth, where weight 1000 would leave it a thousandth.
      expect(ratio).toBeLessThan(7);
      expect(ratio).toBeGreaterThan(2);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a client reconnecting in a loop with a clamped weight writes one client-steering line a minute, not one per connection', async () => {
    const onWarning = (): void => {};
    process.on('warning', onWarning);
    try {
      const before = d.events('client-steering').length;
      for (let i = 0; i < 40; i++) await (await d.connect({ name: `looper-${i}`, weight: 5 + (i % 7) })).close();
      const lines = d.events('client-steering').slice(before);
      // The test above may have logged its own line this minute; either way at most one for these 40.
      expect(lines.length).toBeLessThanOrEqual(1);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("the operator's weight for a name wins over the client's own ask", async () => {
    const c = await d.connect({ name: 'ops-set', weight: 1 });
    const st = await d.status();
    expect(st.clients.find((x) => x.name === 'ops-set')).toMatchObject({ weight: 3 });
    await c.close();
  });

  it('a client capped at one worker never runs two items at once, though a worker stays idle; the operator can cap by name', async () => {
    const capped = await d.connect({ name: 'capped', maxWorkers: 1 });
    const byOps = await d.connect({ name: 'ops-capped' });
    const st = await d.status();
    expect(st.clients.find((c) => c.name === 'capped')).toMatchObject({ maxWorkers: 1 });
    expect(st.clients.find((c) => c.name === 'ops-capped')).toMatchObject({ maxWorkers: 1 });
    expect(st.clients.find((c) => c.name === 'heavy')?.maxWorkers).toBeUndefined();
    for (const c of [capped, byOps]) {
      const runs = await c.map(hold, Array<number>(40).fill(10));
      expect(mostAtOnce(runs)).toBe(1);
    }
    // Beside it, an uncapped client uses the other worker.
    const free = await d.connect({ name: 'free' });
    const [cr, fr] = await Promise.all([capped.map(hold, Array<number>(30).fill(10)), free.map(hold, Array<number>(60).fill(10))]);
    expect(mostAtOnce(cr)).toBe(1);
    expect(mostAtOnce([...cr, ...fr])).toBe(2);
    // Control: the same work uncapped does use both workers, so the cap is what held it to one.
    expect(mostAtOnce(await free.map(hold, Array<number>(40).fill(10)))).toBe(2);
  });

  it("the operator's cap for a name holds for all of that name's connections together; a neighbour takes the rest", async () => {
    // An app of three connections under the capped name (a pool of processes): before, each took the cap, three workers of two.
    const parts = await Promise.all([1, 2, 3].map(() => d.connect({ name: 'ops-capped' })));
    const neighbour = await d.connect({ name: 'neighbour' });
    const [n, ...runs] = await Promise.all([
      neighbour.map(hold, Array<number>(60).fill(10)),
      ...parts.map((c) => c.map(hold, Array<number>(30).fill(10), { chunkSize: 1 })),
    ]);
    const capped = runs.flat();
    expect(capped).toHaveLength(90);
    expect(mostAtOnce(capped)).toBe(1);
    expect(mostAtOnce([...capped, ...n!])).toBe(2);
    // Once the others are gone, the one left still has its one worker.
    await Promise.all(parts.slice(1).map((c) => c.close()));
    expect(mostAtOnce(await parts[0]!.map(hold, Array<number>(20).fill(10), { chunkSize: 1 }))).toBe(1);
    await Promise.all([parts[0]!.close(), neighbour.close()]);
  });

  it('bad weights and caps are refused: E_BAD_ARGUMENT from the SDK, a coded refusal on the wire', async () => {
    for (const weight of [0, -1, 1.5, 1001, Number.NaN, '2' as unknown as number]) {
      await expect(d.connect({ weight })).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    }
    for (const maxWorkers of [0, 2.5, -3, Infinity]) {
      await expect(d.connect({ maxWorkers })).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    }
    const raw = await d.raw();
    raw.send({ type: 'hello', v: 1, token: d.token, weight: 1e6 });
    const refused = await raw.next((m) => m.type === 'error');
    expect(refused).toMatchObject({ error: { code: 'E_AUTH' } });
    expect(String((refused.error as { message: string }).message)).toMatch(/weight must be an integer from 1 to 1000/);
    await raw.closed;
  });
});

describe('a cap and the share of a newcomer', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon({ workers: 2 });
  });
  afterAll(async () => {
    await d?.[Symbol.asyncDispose]();
  });

  it('a client capped at one worker of two, alone for a while, keeps its worker when a newcomer arrives', async () => {
    // Alone at its cap it stands where a newcomer starts (fair-share.ts). Before, the floor stayed where it was
    // when the capped client began: after 12 s alone, a newcomer started 12 s of worker time below it and took
    // both workers until it caught up (about 6 s); after the 8 s here, about 4 s, and past the chunks already on
    // its worker (up to 1 s) the capped client ran no item in most of the 3 s measured.
    const capped = await d.connect({ name: 'capped-alone', maxWorkers: 1 });
    const mine = longMap(capped);
    await new Promise((r) => setTimeout(r, 8_000));
    const aloneRate = mine.done() / 8_000;
    const late = await d.connect({ name: 'newcomer' });
    const theirs = longMap(late);
    try {
      await until(() => theirs.done() > 0, 10_000, "the newcomer's first items");
      await new Promise((r) => setTimeout(r, 1_000));
      const before = mine.done();
      await new Promise((r) => setTimeout(r, 3_000));
      const rate = (mine.done() - before) / 3_000;
      figure('steering.cappedBesideNewcomer', (rate / aloneRate).toFixed(2));
      // Its one worker of the two, as when it was alone (1.0); a generous bound for a loaded machine.
      expect(rate).toBeGreaterThan(0.4 * aloneRate);
    } finally {
      await Promise.all([mine.stop(), theirs.stop()]);
    }
  }, 60_000);
});
