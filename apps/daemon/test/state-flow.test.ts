/**
 * A connection's unanswered state requests are bounded (state-flow.ts): past
 * the window its socket is not read until half are answered. A burst of
 * 100,000 `add(1)` from one Promise.all is still applied exactly once, with a
 * second client answered while it is in flight, and often: a connection's
 * frame is handled a turn's budget at a time (session.ts); and calls that wait on
 * another request (blocked queue.gets) are not counted, so a client with more
 * of them parked than the window holds can still send the puts that end them.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { LOCAL_STATE_WINDOW } from '../src/primary/state-flow.js';
import type { Value } from '@corepool/client';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

const BURST = 100_000;
/** The SDK as an app imports it (its built entry). */
const CLIENT = createRequire(import.meta.url).resolve('@corepool/client');

describe('state requests in flight from one connection', () => {
  it('a burst of 100,000 adds is applied once each while another client is answered', async () => {
    await using d = await startDaemon({ workers: 1 });
    // The other client lives in a process of its own, reading the value in a loop: from this one its
    // requests would go out only after the last add of the burst was written, and a daemon that applies
    // adds as fast as they are written would answer them after the burst (measured: 1 run in 4).
    const { hits, reader } = await burstCounter(d, BURST);
    const other = await d.connect();
    // Created already: every add below goes out at once, in this tick.
    const burst = Promise.all(Array.from({ length: BURST }, () => hits.add(1)));
    const side = other.value<number>('side', { initial: 0 });
    const sideDone = side.add(1);
    const replies = await burst;
    const seenByReader = await reader.done;
    const during = Promise.resolve(Math.min(...seenByReader.filter((n) => n > 0)));
    const seen = new Uint8Array(BURST + 1);
    for (const v of replies) if (Number.isInteger(v) && v >= 1 && v <= BURST) seen[v] = 1;
    expect(seen.reduce((a, b) => a + b, 0)).toBe(BURST);
    expect(await hits.get()).toBe(BURST);
    // Answered before the burst was through: the other client did not wait behind all of it.
    expect(await during).toBeLessThan(BURST);
    expect(await sideDone).toBe(1);
  }, 180_000);

  it("a neighbour is answered between the burst's requests, not once per window of them", async () => {
    await using d = await startDaemon({ workers: 1 });
    const { hits, reader } = await burstCounter(d, BURST);
    await Promise.all(Array.from({ length: BURST }, () => hits.add(1)));
    const during = (await reader.done).filter((n) => n > 0 && n < BURST);
    // A window of the burst's requests (LOCAL_STATE_WINDOW, one frame) handled in one turn let the
    // reader in about once per window: 45-47 reads during the burst, measured before each connection
    // had a budget per turn (session.ts); 267-279 with it.
    expect(during.length).toBeGreaterThan(4 * Math.ceil(BURST / LOCAL_STATE_WINDOW));
    expect(await hits.get()).toBe(BURST);
  }, 180_000);

  it('a bursting client killed while its frames wait for their turns leaves its neighbour served and nothing applied twice', async () => {
    await using d = await startDaemon({ workers: 1 });
    const SENTINEL = 1e9;
    const { hits, reader } = await burstCounter(d, SENTINEL);
    const connected = (await d.status()).clients.length;
    const burster = spawnClient(
      d,
      `const v = c.value('burst');
       void Promise.all(Array.from({ length: ${BURST} }, () => v.add(1)));
       process.stdout.write('sent\\n');
       await new Promise(() => {});`,
    );
    const gone = new Promise((resolve) => burster.on('exit', resolve));
    await new Promise<void>((resolve) => burster.stdout.once('data', () => resolve()));
    // Killed mid-burst: part of it applied, the rest parked in its session or still in its socket.
    while ((await hits.get()) === 0) await new Promise((r) => setTimeout(r, 1));
    burster.kill('SIGKILL');
    await gone;
    // What it sent before it died and the daemon read is applied until the daemon sees it gone (its socket is
    // read again once its parked frames are handled: a loaded machine took a whole window, 4,096 adds, past a
    // read right after the kill). From then on, nothing more of it.
    await until(async () => (await d.status()).clients.length === connected, 60_000, 'the daemon sees the burster gone');
    const applied = await hits.get();
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThanOrEqual(BURST);
    // The neighbour is still answered: it reads the sentinel and stops; a new client is served too.
    await hits.set(SENTINEL);
    const read = await reader.done;
    expect(read.at(-1)).toBe(SENTINEL);
    expect(read).toEqual([...read].sort((x, y) => x - y)); // adds only, then the sentinel: never a value going back
    const later = await d.connect();
    expect(await later.value<number>('burst').get()).toBe(SENTINEL);
  }, 180_000);

  it('more blocked queue.gets than the window do not stop the same client from sending the puts', async () => {
    await using d = await startDaemon({ workers: 1 });
    const c = await d.connect();
    const q = c.queue<number>('jobs');
    const n = LOCAL_STATE_WINDOW + 500;
    const gets = Array.from({ length: n }, () => q.get());
    await Promise.all(Array.from({ length: n }, (_, i) => q.put(i)));
    const got = await Promise.all(gets);
    expect(new Set(got).size).toBe(n);
    expect(await q.size()).toBe(0);
  }, 180_000);
});

/** Value 'burst' of a client of `d`, set to 0, and a reader of it in a process of its own until it reaches `last`. */
async function burstCounter(d: TestDaemon, last: number): Promise<{ hits: Value<number>; reader: { done: Promise<number[]> } }> {
  const hits = (await d.connect()).value<number>('burst', { initial: 0 });
  await hits.set(0);
  return { hits, reader: await startReader(d, 'burst', last) };
}

/** A process of its own running `body` (an ES module's code) with `c`, a client of `d`; its stdout is piped. */
function spawnClient(d: { url: string; token: string }, body: string): ChildProcessByStdio<null, Readable, null> {
  return spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { connect } = await import(${JSON.stringify(CLIENT)});
       const c = await connect(${JSON.stringify(d.url)}, { token: ${JSON.stringify(d.token)} });
       ${body}`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

/**
 * A client in a process of its own that reads value `name` in a loop until it
 * reaches `last`; `done` resolves to every value it read, in order.
 */
async function startReader(d: { url: string; token: string }, name: string, last: number): Promise<{ done: Promise<number[]> }> {
  const reader = spawnClient(
    d,
    `const v = c.value(${JSON.stringify(name)});
     process.stdout.write('ready\\n');
     for (;;) { const n = await v.get(); process.stdout.write(n + '\\n'); if (n >= ${last}) break; }
     await c.close();`,
  );
  let lines = '';
  const exited = new Promise((resolve) => reader.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    reader.stdout.on('data', (b: Buffer) => {
      lines += b.toString();
      if (lines.startsWith('ready')) resolve();
    });
    void exited.then((code) => reject(new Error(`the reading client exited (${String(code)}) before it was ready`)));
  });
  const done = exited.then(() =>
    lines
      .split('\n')
      .slice(1)
      .filter((l) => l !== '')
      .map(Number),
  );
  return { done };
}
