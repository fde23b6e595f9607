/**
 * Queue items whose replies a client never had, through a real daemon: a get
 * that close() cancels as another app's put hands it an item, and a consumer
 * killed with its item's reply in flight, each leave the item back at the
 * front of the queue (the first when the instance closes, the second when its
 * reconnect window ends: `--replay-window-ms` shortens it here), never lost
 * and never given twice to a client that reconnects; an item a client had
 * before it closed stays taken. close() waits for the replies of writes
 * already sent, so they settle with their outcome, and past its grace says
 * that an unanswered write may have been applied. A co-tenant opening
 * clients, blocking gets and closing them in a loop loses no other app's
 * item and leaves nothing behind in the daemon.
 */
import { describe, expect, it } from 'vitest';
import type { CorepoolError } from '@corepool/client';
import { decodeData } from '@corepool/protocol/internal';
import { startApp } from './apps/spawn-app.js';
import { helloAs, startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';
import { figure } from './support/figures.js';

const WINDOW_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('an item taken for a get whose client never had it', () => {
  it('close() during a blocked get as another app puts: the get is E_CLOSED and the item goes back, every round; an item had before close() stays taken', async () => {
    await using d = await startDaemon({ workers: 1 });
    const other = await d.connect();
    const q = other.queue<string>('q7');
    let raced = 0;
    // Which frame the daemon reads first, the put or the close, is the scheduler's choice: both orders must keep the item.
    for (let round = 0; round < 20; round++) {
      const c3 = await d.connect();
      const g = c3
        .queue('q7')
        .get({ timeoutMs: Infinity })
        .then(
          () => 'item',
          (e: CorepoolError) => e.code,
        );
      await until(async () => (await d.status()).blockedGets === 1, 10_000, 'the get blocked');
      const closing = c3.close();
      expect(await g).toBe('E_CLOSED');
      // Often before the daemon reads the close frame: the item is handed to the cancelled get.
      await q.put(`after${round}`);
      if ((await q.size()) === 0) raced++;
      await closing;
      await until(async () => (await q.size()) === 1, 10_000, `round ${round}'s item back in the queue`);
      expect(await q.get({ timeoutMs: 0 })).toBe(`after${round}`);
    }
    // How often the put found the closing client's get: the next test makes that order certain.
    figure('items-back.raced', { raced, rounds: 20 });

    // A consumer that got its item and closed: acknowledged by close(), never handed back.
    for (let i = 0; i < 5; i++) {
      const c = await d.connect();
      await q.put(`had${i}`);
      expect(await c.queue<string>('q7').get()).toBe(`had${i}`);
      await c.close();
    }
    await sleep(300);
    expect(await q.size()).toBe(0);
    await other.close();
  }, 120_000);

  it('the put read before the close: an item handed to a get the client says, closing, it never had goes back; one it says it had stays taken', async () => {
    await using d = await startDaemon({ workers: 1 });
    const other = await d.connect();
    const q = other.queue<string>('qr');
    for (const had of [false, true]) {
      const h = await helloAs(d, `raw-${had}`);
      h.send({ type: 'state', rid: 1, op: 'queue.get', name: 'qr' });
      await until(async () => (await d.status()).blockedGets === 1, 10_000, 'the raw get blocked');
      await q.put(`had=${had}`);
      // Handed to the get: its reply is on the wire to a client that will not read it before it closes.
      expect(await q.size()).toBe(0);
      h.send({ type: 'ack', ack: 2, closing: had ? [] : [1] });
      h.ws.close(1000);
      await h.closed;
      if (had) {
        await sleep(300);
        expect(await q.size()).toBe(0);
      } else {
        await until(async () => (await q.size()) === 1, 10_000, 'the item back in the queue');
        expect(await q.get({ timeoutMs: 0 })).toBe('had=false');
      }
    }
    await other.close();
  }, 30_000);

  it('a consumer killed with its item in flight: the item is back at the front once its reconnect window ends, not before', async () => {
    await using d = await startDaemon({ workers: 1, args: ['--replay-window-ms', String(WINDOW_MS)] });
    const client = await d.connect();
    const blocked = async (): Promise<number> => (await d.status()).blockedGets ?? 0;
    for (let i = 0; i < 4; i++) {
      const q = client.queue(`qk${i}`);
      await using consumer = startApp(d, 'queue-app.mjs', { name: `qk${i}`, role: 'block' });
      await consumer.line((l) => l.blocking === true);
      await until(async () => (await blocked()) === 1, 10_000, 'the consumer blocked in get()');
      // Frozen, its socket open: the item goes to its get and its reply to a process that never reads it (a host that died without a reset).
      consumer.proc.kill('SIGSTOP');
      await q.put({ p: 'killed', i });
      expect(await blocked()).toBe(0);
      await consumer.kill();
      await q.put({ p: 'after', i });
      // Within the window the instance could still come back for its reply: the item stays its.
      expect(await q.size()).toBe(1);
    }
    for (let i = 0; i < 4; i++) {
      const q = client.queue(`qk${i}`);
      await until(async () => (await q.size()) === 2, 10_000, `the killed consumer's item back in qk${i}`);
      expect(await q.get({ timeoutMs: 0 })).toEqual({ p: 'killed', i });
      expect(await q.get({ timeoutMs: 0 })).toEqual({ p: 'after', i });
    }
    await client.close();
  }, 60_000);

  it('items taken before a kill -9 of the daemon, their consumer never back: the restarted daemon puts them back at the front when its window ends; a consumer that came back and acknowledged keeps its own', async () => {
    const args = ['--replay-window-ms', String(WINDOW_MS)];
    await using d = await startDaemon({ workers: 1, args });
    const producer = await d.connect();
    const q = producer.queue<string>('restarted');
    // A small item's reply goes in a segment record, a large one's in a record of its own (replay-log.ts).
    const big = 'x'.repeat(2000);
    for (const item of ['small', big, 'kept', 'rest']) await q.put(item);
    const gone = await helloAs(d, 'gone-for-good');
    gone.send({ type: 'state', rid: 1, op: 'queue.get', name: 'restarted' });
    gone.send({ type: 'state', rid: 2, op: 'queue.get', name: 'restarted' });
    await gone.next((m) => m.rid === 2);
    const back = await helloAs(d, 'comes-back');
    back.send({ type: 'state', rid: 1, op: 'queue.get', name: 'restarted' });
    expect(decodeData((await back.next((m) => m.rid === 1)).value as Uint8Array)).toBe('kept');
    await producer.close();
    await d.kill();

    await using again = await startDaemon({ dataDir: d.dataDir, workers: 1, args });
    // Within the window each reply is still its instance's: a resend gets the item it took, not another.
    const returning = await helloAs(again, 'comes-back');
    returning.send({ type: 'state', rid: 1, op: 'queue.get', name: 'restarted' });
    expect(decodeData((await returning.next((m) => m.rid === 1)).value as Uint8Array)).toBe('kept');
    returning.send({ type: 'state', rid: 2, ack: 2, op: 'queue.size', name: 'restarted' });
    expect(await returning.next((m) => m.rid === 2)).toMatchObject({ ok: true });
    const c = await again.connect();
    const q2 = c.queue<string>('restarted');
    await until(async () => (await q2.size()) === 3, 10_000, "the gone consumer's two items back");
    expect([await q2.get({ timeoutMs: 0 }), await q2.get({ timeoutMs: 0 }), await q2.get({ timeoutMs: 0 })]).toEqual([
      'small',
      big,
      'rest',
    ]);
    await sleep(WINDOW_MS * 1.5);
    expect(await q2.size()).toBe(0);
    returning.ws.terminate();
    await c.close();
  }, 30_000);

  it('a client whose link was cut and comes back within the window gets its kept item once: nothing is handed back after it', async () => {
    const { encodeData } = await import('@corepool/protocol');
    await using d = await startDaemon({ workers: 1, args: ['--replay-window-ms', String(WINDOW_MS)] });
    const producer = await d.connect();
    const jobs = producer.queue<string>('jobs');
    await jobs.put('a');
    await jobs.put('b');
    const first = await helloAs(d, 'cut');
    first.send({ type: 'state', rid: 1, op: 'queue.get', name: 'jobs' });
    expect(decodeData((await first.next((m) => m.rid === 1)).value as Uint8Array)).toBe('a');
    first.ws.terminate();
    await first.closed;
    const back = await helloAs(d, 'cut');
    back.send({ type: 'state', rid: 1, op: 'queue.get', name: 'jobs' });
    expect(decodeData((await back.next((m) => m.rid === 1)).value as Uint8Array)).toBe('a');
    // The next request acknowledges it; then the link is cut for good.
    back.send({ type: 'state', rid: 2, ack: 2, op: 'value.set', name: 'v', a: encodeData(1) });
    await back.next((m) => m.rid === 2);
    back.ws.terminate();
    await sleep(WINDOW_MS * 2.5);
    expect(await jobs.size()).toBe(1);
    expect(await jobs.get({ timeoutMs: 0 })).toBe('b');
    await producer.close();
  }, 30_000);
});

describe('close()', () => {
  it('waits for the replies of writes already sent: none rejects, each applied once', async () => {
    await using d = await startDaemon({ workers: 1 });
    const other = await d.connect();
    let rejected = 0;
    for (let i = 0; i < 20; i++) {
      const c3 = await d.connect();
      const p = c3
        .queue('q8')
        .put(i)
        .then(
          () => 'ok',
          (e: CorepoolError) => e.code,
        );
      await new Promise(setImmediate);
      await c3.close();
      if ((await p) !== 'ok') rejected++;
    }
    expect(rejected).toBe(0);
    expect(await other.queue('q8').size()).toBe(20);
    await other.close();
  }, 60_000);

  it('past its grace, a write still unanswered rejects E_CLOSED saying it may have been applied', async () => {
    await using d = await startDaemon({ workers: 1 });
    const c = await d.connect();
    const puts = [0, 1, 2].map((i) =>
      c
        .queue('frozen')
        .put(i)
        .catch((e: CorepoolError) => e),
    );
    await new Promise(setImmediate);
    process.kill(d.pid, 'SIGSTOP');
    try {
      const t0 = Date.now();
      await c.close();
      // The grace (2 s) and the close frame's second: bounded, whatever the daemon does.
      expect(Date.now() - t0).toBeLessThan(4_500);
    } finally {
      process.kill(d.pid, 'SIGCONT');
    }
    for (const e of await Promise.all(puts)) {
      expect((e as CorepoolError).code).toBe('E_CLOSED');
      expect((e as CorepoolError).message).toMatch(/queue\.put .*may have been applied/);
    }
    const other = await d.connect();
    // And so they were: the daemon read them before it froze.
    await until(async () => (await other.queue('frozen').size()) === 3, 10_000, 'the puts applied');
    await other.close();
  }, 30_000);
});

describe('a co-tenant opening, blocking and closing clients in a loop', () => {
  it("loses none of another app's items and leaves no instance, get or item behind", async () => {
    await using d = await startDaemon({ workers: 1, args: ['--replay-window-ms', String(WINDOW_MS)] });
    const app = await d.connect();
    const q = app.queue<number>('shared');
    let stop = false;
    // Items a churned client's get had before its close(): taken, as any consumer's.
    const taken: number[] = [];
    const churn = (async () => {
      let rounds = 0;
      while (!stop) {
        const c = await d.connect();
        const gets = Array.from({ length: 8 }, () =>
          c
            .queue<number>('shared')
            .get()
            .then(
              (item) => void taken.push(item),
              () => {},
            ),
        );
        await sleep(rounds++ % 3);
        await c.close();
        await Promise.all(gets);
      }
      return rounds;
    })();
    const N = 300;
    for (let i = 0; i < N; i++) {
      await q.put(i);
      if (i % 10 === 0) await sleep(1);
    }
    stop = true;
    const rounds = await churn;
    expect(rounds).toBeGreaterThan(20);
    await until(async () => (await q.size()) + taken.length === N, 10_000, 'every item taken or in the queue');
    const all = [...taken];
    for (let i = taken.length; i < N; i++) all.push((await q.get({ timeoutMs: 0 })) as number);
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
    const st = await d.status();
    expect(st.blockedGets).toBe(0);
    // The app's own instance and its few kept replies: every churned instance is gone.
    expect(st.stateReplyBytes ?? 0).toBeLessThan(64 * 1024);
    await app.close();
  }, 60_000);
});
