/**
 * paced.ts alone, on a fake clock: what it makes is shared by the requests that wait for it,
 * each made after its requests came, at most once per REUSE_FACTOR times what the last one cost
 * (counted from its end, later work added through `spent`), and never more than MAX_WAIT_MS after
 * the last one ended for a request waiting; a failure fails only the requests that waited for it.
 */
import { describe, expect, it } from 'vitest';
import { MAX_WAIT_MS, Paced, REUSE_FACTOR } from '../src/primary/paced.js';
import type { Clock } from '../src/primary/clock.js';
import { FakeClock } from './support/fake-clock.js';

/**
 * An asynchronous make that takes `costMs` of the clock and says which one it was. The cost moves an
 * offset of the clock, not the FakeClock: one moved from inside a timer it fired would be put back.
 */
function renderer(costMs: number): { clock: Clock; fake: FakeClock; render: () => Promise<string>; count: () => number } {
  const fake = new FakeClock();
  let spent = 0;
  let n = 0;
  return {
    clock: { now: () => fake.now() + spent, after: (ms, fn) => fake.after(ms, fn) },
    fake,
    render: () => {
      n++;
      spent += costMs;
      return Promise.resolve(`render ${n}`);
    },
    count: () => n,
  };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Paced', () => {
  it('the first request is made for at once; those that come while it is fresh share the next, made after they came', async () => {
    const r = renderer(5);
    const paced = new Paced(r.render, r.clock);
    expect(await paced.next()).toBe('render 1');
    const waiting = Array.from({ length: 50 }, () => paced.next());
    await flush();
    expect(r.count()).toBe(1); // not before 20 x 5 ms have passed
    r.fake.advance(5 * REUSE_FACTOR - 1);
    await flush();
    expect(r.count()).toBe(1);
    r.fake.advance(1);
    expect(new Set(await Promise.all(waiting))).toEqual(new Set(['render 2']));
    expect(r.count()).toBe(2);
    // Render 2 cost 5 ms too: the next waits as long again.
    const third = paced.next();
    r.fake.advance(5 * REUSE_FACTOR - 1);
    await flush();
    expect(r.count()).toBe(2);
    r.fake.advance(1);
    expect(await third).toBe('render 3');
  });

  it('a synchronous make runs inside next(), and a cheap one runs again a moment later', async () => {
    const clock = new FakeClock();
    let n = 0;
    const paced = new Paced(() => ++n, clock);
    void paced.next();
    expect(n).toBe(1);
    clock.advance(1);
    expect(await paced.next()).toBe(2);
  });

  it('a request that comes while one is made waits for the next; a costly one delays the next by MAX_WAIT_MS at most', async () => {
    const clock = new FakeClock();
    let release: (() => void) | undefined;
    let n = 0;
    const paced = new Paced(async () => {
      n++;
      await new Promise<void>((r) => (release = r));
      clock.advance(10_000); // far more than MAX_WAIT_MS / REUSE_FACTOR
      return `render ${n}`;
    }, clock);
    const first = paced.next();
    await flush();
    const second = paced.next(); // came while render 1 ran
    release!();
    expect(await first).toBe('render 1');
    await flush();
    expect(n).toBe(1);
    clock.advance(MAX_WAIT_MS - 1);
    await flush();
    expect(n).toBe(1);
    clock.advance(1);
    await flush();
    expect(n).toBe(2);
    release!();
    expect(await second).toBe('render 2');
  });

  it('work added later through spent() delays the next by REUSE_FACTOR times the whole cost', async () => {
    const clock = new FakeClock();
    let n = 0;
    let spend: ((ms: number) => void) | undefined;
    const paced = new Paced((spent) => {
      spend = spent;
      return ++n;
    }, clock);
    await paced.next();
    clock.advance(3);
    spend!(3); // e.g. encoded for a client, 3 ms, just now
    const next = paced.next();
    clock.advance(3 * REUSE_FACTOR - 1);
    await flush();
    expect(n).toBe(1);
    clock.advance(1);
    expect(await next).toBe(2);
  });

  it('work spent after a request armed its wait still delays what that request gets', async () => {
    const fake = new FakeClock();
    let offset = 0;
    const clock: Clock = { now: () => fake.now() + offset, after: (ms, fn) => fake.after(ms, fn) };
    let n = 0;
    let spend: ((ms: number) => void) | undefined;
    const paced = new Paced((spent) => {
      spend = spent;
      offset += 1; // 1 ms to make
      return ++n;
    }, clock);
    await paced.next();
    const waiting = paced.next(); // armed for 20 x 1 ms
    offset += 10;
    spend!(10); // then the one made is encoded for a client: 10 ms more, the next 20 x 11 ms after now
    fake.advance(11 * REUSE_FACTOR - 1);
    await flush();
    expect(n).toBe(1); // the wait armed first has passed, the pace has not
    fake.advance(1);
    expect(await waiting).toBe(2);
  });

  it('a make that fails, thrown or rejected, fails the requests that waited for it, and the next request makes again', async () => {
    const clock = new FakeClock();
    let fail: 'throw' | 'reject' | undefined = 'reject';
    const paced = new Paced<string>((): string | Promise<string> => {
      if (fail === 'throw') throw new Error('thrown');
      return fail === 'reject' ? Promise.reject(new Error('rejected')) : Promise.resolve('ok');
    }, clock);
    const failing = paced.next();
    const during = paced.next(); // came while the failing one was made: it waits for the next, not for this failure
    fail = 'throw';
    await expect(failing).rejects.toThrow('rejected');
    clock.advance(MAX_WAIT_MS);
    await expect(during).rejects.toThrow('thrown');
    const thrown = paced.next();
    clock.advance(MAX_WAIT_MS);
    await expect(thrown).rejects.toThrow('thrown');
    fail = undefined;
    const next = paced.next();
    clock.advance(MAX_WAIT_MS);
    expect(await next).toBe('ok');
  });
});
