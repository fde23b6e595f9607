/** Waiters (state/waiters.ts) on their own: FIFO take, timeouts, cancel by owner and shutdown, with fake timers. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { MAX_TIMER_MS, Waiters, type Waiter } from '../../src/state/waiters.js';

/** Settles into a record that can be read synchronously after the microtasks run. */
function track<T>(p: Promise<T>): { value?: T; error?: Error } {
  const out: { value?: T; error?: Error } = {};
  p.then(
    (v) => (out.value = v),
    (e: Error) => (out.error = e),
  );
  return out;
}

const flush = (): Promise<void> => Promise.resolve().then(() => {});
const never = (): Error => new Error('timed out');

describe('Waiters', () => {
  let left: Waiter<string, number>[];
  let waiters: Waiters<string, number>;

  beforeEach(() => {
    vi.useFakeTimers();
    left = [];
    waiters = new Waiters<string, number>((w) => left.push(w));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('takes the oldest waiter of a name first, and only of that name', async () => {
    const a = track(waiters.wait('c:1', 'q', undefined, never, 1));
    const b = track(waiters.wait('c:2', 'q', undefined, never, 2));
    const other = track(waiters.wait('c:3', 'r', undefined, never, 3));
    expect(waiters.has('q')).toBe(true);
    const first = waiters.take('q')!;
    expect([first.owner, first.name, first.data]).toEqual(['c:1', 'q', 1]);
    first.resolve('x');
    const second = waiters.take('q')!;
    expect(second.data).toBe(2);
    second.resolve('y');
    expect(waiters.take('q')).toBeUndefined();
    expect(waiters.has('q')).toBe(false);
    expect(waiters.has('r')).toBe(true);
    await flush();
    expect([a.value, b.value, other.value]).toEqual(['x', 'y', undefined]);
    expect(left).toEqual([]);
  });

  it('rejects a waiter whose timeout passes with its error, tells onLeft, and no longer hands it out', async () => {
    const slow = track(waiters.wait('c:1', 'q', 50, () => new Error('no item within 50 ms'), 1));
    const patient = track(waiters.wait('c:2', 'q', undefined, never, 2));
    vi.advanceTimersByTime(49);
    await flush();
    expect(slow.error).toBeUndefined();
    vi.advanceTimersByTime(1);
    // Out of the line at once; answered in the turn after, with any other timeout due then.
    expect(waiters.size).toBe(1);
    vi.advanceTimersByTime(1);
    await flush();
    expect(slow.error?.message).toBe('no item within 50 ms');
    expect(left.map((w) => w.owner)).toEqual(['c:1']);
    expect(waiters.take('q')?.owner).toBe('c:2');
    expect(patient.error).toBeUndefined();
  });

  it('arms no timer for an undefined timeout or one above MAX_TIMER_MS: those wait forever', async () => {
    const forever = track(waiters.wait('c:1', 'q', undefined, never, 1));
    const beyond = track(waiters.wait('c:1', 'q', MAX_TIMER_MS + 1, never, 2));
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    await flush();
    expect([forever.error, beyond.error]).toEqual([undefined, undefined]);
    expect(waiters.take('q')?.data).toBe(1);
    expect(waiters.take('q')?.data).toBe(2);
  });

  it('clears the timer of a waiter taken before its timeout', async () => {
    const w = track(waiters.wait('c:1', 'q', 50, never, 1));
    expect(vi.getTimerCount()).toBe(1);
    waiters.take('q')!.resolve('x');
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(100);
    await flush();
    expect(w).toEqual({ value: 'x' });
    expect(left).toEqual([]);
  });

  it('cancels every waiter of an owner that goes away, on every name, and no one else', async () => {
    const err = new Error('the requester went away');
    const gone1 = track(waiters.wait('c:gone', 'q', 1000, never, 1));
    const stays = track(waiters.wait('c:stays', 'q', undefined, never, 2));
    const gone2 = track(waiters.wait('c:gone', 'q', undefined, never, 3));
    const gone3 = track(waiters.wait('c:gone', 'r', undefined, never, 4));
    waiters.dropOwner('c:gone', err);
    await flush();
    expect([gone1.error, gone2.error, gone3.error]).toEqual([err, err, err]);
    expect(stays.error).toBeUndefined();
    expect(left.map((w) => w.data)).toEqual([1, 3, 4]);
    expect(vi.getTimerCount()).toBe(0);
    expect(waiters.has('r')).toBe(false);
    expect(waiters.take('q')?.owner).toBe('c:stays');
    // An owner with nothing left is a no-op, and may wait again.
    waiters.dropOwner('c:gone', err);
    expect(left).toHaveLength(3);
    void track(waiters.wait('c:gone', 'q', undefined, never, 5));
    expect(waiters.take('q')?.data).toBe(5);
  });

  it('an owner that stops waiting on one name by a take still has its other waits cancelled', async () => {
    const err = new Error('gone');
    void track(waiters.wait('c:1', 'q', undefined, never, 1));
    const later = track(waiters.wait('c:1', 'q', undefined, never, 2));
    waiters.take('q')!.resolve('x');
    waiters.dropOwner('c:1', err);
    await flush();
    expect(later.error).toBe(err);
    expect(waiters.has('q')).toBe(false);
  });

  it('size counts the calls waiting on every name: down by a take, a timeout, an owner gone and shutdown', async () => {
    expect(waiters.size).toBe(0);
    void track(waiters.wait('c:1', 'q', undefined, never, 1));
    void track(waiters.wait('c:2', 'q', 50, never, 2));
    void track(waiters.wait('c:3', 'r', undefined, never, 3));
    void track(waiters.wait('c:4', 'r', undefined, never, 4));
    expect(waiters.size).toBe(4);
    waiters.take('q')!.resolve('x');
    expect(waiters.size).toBe(3);
    vi.advanceTimersByTime(50);
    expect(waiters.size).toBe(2);
    waiters.dropOwner('c:3', new Error('gone'));
    expect(waiters.size).toBe(1);
    waiters.dropOwner('c:3', new Error('gone'));
    expect(waiters.size).toBe(1);
    waiters.dropAll(new Error('stopping'));
    expect(waiters.size).toBe(0);
    await flush();
  });

  it('dropAll rejects every waiter (shutdown) and leaves nothing armed', async () => {
    const err = new Error('stopping');
    const all = [
      track(waiters.wait('c:1', 'q', 10, never, 1)),
      track(waiters.wait('c:2', 'r', undefined, never, 2)),
      track(waiters.wait('c:1', 'r', 20, never, 3)),
    ];
    waiters.dropAll(err);
    await flush();
    expect(all.map((w) => w.error)).toEqual([err, err, err]);
    expect(left).toHaveLength(3);
    expect(vi.getTimerCount()).toBe(0);
    expect(waiters.has('q') || waiters.has('r')).toBe(false);
    vi.advanceTimersByTime(100);
    expect(left).toHaveLength(3);
  });
});

describe('Waiters, many calls stopping at once', () => {
  it('a line holding only gone calls answers a take at once, telling none of them', () => {
    const left: number[] = [];
    const waiters = new Waiters<string, number>((w) => left.push(w.data));
    for (let i = 0; i < 10_000; i++) waiters.wait('c:gone', 'q', undefined, never, i).catch(() => {});
    waiters.dropOwner('c:gone', new Error('gone'));
    const told = left.length;
    expect(waiters.has('q')).toBe(false);
    expect(waiters.take('q')).toBeUndefined();
    expect(left.length).toBe(told);
  });

  it('a take behind more than a few gone calls answers none; the front is cleared over turns and the waiting calls are first again, in order', async () => {
    const left: number[] = [];
    const fronts: string[] = [];
    const waiters = new Waiters<string, number>(
      (w) => left.push(w.data),
      (name) => fronts.push(name),
    );
    for (let i = 0; i < 1_000; i++) waiters.wait(`c:${i % 3}`, 'q', undefined, never, i).catch(() => {});
    const first = track(waiters.wait('c:stays', 'q', undefined, never, -1));
    for (let i = 0; i < 1_000; i++) waiters.wait(`c:${i % 3}`, 'q', undefined, never, 1_000 + i).catch(() => {});
    const second = track(waiters.wait('c:stays', 'q', undefined, never, -2));
    for (const o of ['c:0', 'c:1', 'c:2']) waiters.dropOwner(o, new Error('gone'));
    const told = left.length;
    expect(waiters.take('q')).toBeUndefined();
    expect(left.length - told).toBeLessThanOrEqual(16);
    expect(waiters.has('q')).toBe(true);
    while (!fronts.includes('q')) await new Promise((r) => setImmediate(r));
    waiters.take('q')!.resolve('one');
    // Behind the first, another thousand gone calls, unless their owners' clears took them out meanwhile.
    let next = waiters.take('q');
    while (next === undefined) {
      await new Promise((r) => setImmediate(r));
      next = waiters.take('q');
    }
    next.resolve('two');
    await flush();
    expect([first.value, second.value]).toEqual(['one', 'two']);
    while (left.length < 2_000) await new Promise((r) => setImmediate(r));
    expect(left.filter((d) => d < 0)).toEqual([]);
    expect(new Set(left).size).toBe(2_000);
  });

  it('timeouts due together are answered in slices: the event loop runs between the first answer and the last', async () => {
    const waiters = new Waiters<string>();
    const events: string[] = [];
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      waiters.wait(`c:${i % 5}`, 'q', 20, () => new Error('no item within 20 ms'), undefined).catch(() => events.push('answer'));
    }
    // A turn of the event loop, marked, until every call is answered.
    let marking = true;
    const mark = (): void => {
      events.push('turn');
      if (marking) setImmediate(mark);
    };
    await new Promise((r) => setTimeout(r, 20));
    setImmediate(mark);
    while (events.filter((e) => e === 'answer').length < n) await new Promise((r) => setTimeout(r, 10));
    marking = false;
    const first = events.indexOf('answer');
    const last = events.lastIndexOf('answer');
    expect(events.slice(first, last).includes('turn')).toBe(true);
    expect(waiters.size).toBe(0);
  });

  it("a timeout's error carries no stack (an answer on the wire), and the stack limit is put back", async () => {
    const waiters = new Waiters<string>();
    const limit = Error.stackTraceLimit;
    const err = await waiters.wait('c:1', 'q', 1, () => new Error('no item within 1 ms'), undefined).catch((e: Error) => e);
    expect((err as Error).message).toBe('no item within 1 ms');
    expect((err as Error).stack).not.toMatch(/\n\s+at /);
    expect(Error.stackTraceLimit).toBe(limit);
  });

  it('an owner with thousands waiting is set apart at once, its calls leaving their lines and answered over turns; others are untouched', async () => {
    const left: string[] = [];
    const gone: boolean[] = [];
    const fronts: string[] = [];
    const waiters = new Waiters<string, number>(
      (w, ownerGone) => {
        left.push(w.owner);
        gone.push(ownerGone);
      },
      (name) => fronts.push(name),
    );
    const answered: number[] = [];
    const n = 100_000;
    const stays = waiters.wait('c:stays', 'q', undefined, () => new Error('x'), -1);
    for (let i = 0; i < n; i++) waiters.wait('c:gone', i % 2 ? 'q' : 'r', undefined, () => new Error('x'), i).catch(() => answered.push(i));
    const after = waiters.wait('c:stays', 'q', undefined, () => new Error('x'), -2);
    waiters.dropOwner('c:gone', new Error('gone'));
    // No longer counted, and never handed out: a take passes over them. They leave their lines a slice now, the rest in the turns after.
    expect(waiters.size).toBe(2);
    expect(left.length).toBeGreaterThan(0);
    expect(left.length).toBeLessThan(n);
    await Promise.resolve();
    expect(answered.length).toBeGreaterThan(0);
    expect(answered.length).toBeLessThan(n);
    let turns = 0;
    const a = waiters.take('q')!;
    expect(a.data).toBe(-1);
    // The next is behind tens of thousands of gone calls: no take steps over them all; the type hears when it is first.
    const told = left.length;
    expect(waiters.take('q')).toBeUndefined();
    expect(left.length - told).toBeLessThanOrEqual(16);
    expect(waiters.has('q')).toBe(true);
    while (!fronts.includes('q')) {
      await new Promise((r) => setImmediate(r));
      turns++;
    }
    const b = waiters.take('q')!;
    expect(b.data).toBe(-2);
    a.resolve('one');
    b.resolve('two');
    expect(await Promise.all([stays, after])).toEqual(['one', 'two']);
    // The owner waits again meanwhile: a call of its own, not one of those that left.
    const again = waiters.wait('c:gone', 'r', undefined, () => new Error('x'), -3);
    while (answered.length < n) {
      await new Promise((r) => setImmediate(r));
      turns++;
    }
    expect(turns).toBeGreaterThan(1);
    expect(answered.sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(left.every((o) => o === 'c:gone')).toBe(true);
    expect(left).toHaveLength(n);
    expect(gone.every((g) => g)).toBe(true);
    expect(waiters.size).toBe(1);
    const c = waiters.take('r')!;
    expect(c.data).toBe(-3);
    c.resolve('three');
    expect(await again).toBe('three');
    expect(waiters.has('r')).toBe(false);
  });
});
