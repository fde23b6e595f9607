// The typed handles of @corepool/protocol (Value, Queue, Dict, Lock) over a
// transport that calls SharedState in process: the same contract the client
// SDK and the worker implement over their sockets.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Dict, Lock, Queue, Value, type Push, type StateRequest, type StateTransport } from '@corepool/protocol';

import type { SharedState } from '../../src/state/shared-state.js';
import { cleanup, codeOf, open, tempDir } from './helpers.js';

class LocalTransport implements StateTransport {
  readonly sent: StateRequest[] = [];
  readonly #listeners = new Map<string, Set<(p: Push) => void>>();
  constructor(
    readonly state: SharedState,
    readonly owner: string,
  ) {}

  request(req: StateRequest): Promise<unknown> {
    this.sent.push(req);
    return this.state.handle(this.owner, req);
  }

  listen(kind: 'value' | 'dict', name: string, cb: (push: Push) => void): () => void {
    const key = `${kind}\0${name}`;
    let set = this.#listeners.get(key);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(key, set);
    }
    set.add(cb);
    void this.request({ op: `${kind}.subscribe`, name }).then((reply) => {
      if (kind === 'value' && set.has(cb)) {
        const r = reply as { version: number; value?: Uint8Array };
        cb({ type: 'push', kind, name, version: r.version, ...(r.value === undefined ? {} : { value: r.value }) });
      }
    });
    return () => {
      set.delete(cb);
      if (set.size === 0) {
        this.#listeners.delete(key);
        void this.request({ op: `${kind}.unsubscribe`, name });
      }
    };
  }

  deliver(push: Push): void {
    for (const cb of this.#listeners.get(`${push.kind}\0${push.name}`) ?? []) cb(push);
  }
}

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('handles', () => {
  let dir: string;
  let state: SharedState;
  let t: LocalTransport;
  beforeEach(async () => {
    dir = tempDir();
    state = await open(dir);
    t = new LocalTransport(state, 'c:1');
    state.onPush = (owner, push) => {
      if (owner === 'c:1') t.deliver(push);
    };
  });
  afterEach(async () => {
    await state.close();
    cleanup(dir);
  });

  it('Value: initial creates lazily, once, and never overwrites', async () => {
    const a = new Value<number>(t, 'hits', { initial: 0 });
    expect(t.sent).toEqual([]);
    expect(await a.add(1)).toBe(1);
    expect(await a.add(1)).toBe(2);
    expect(t.sent.filter((r) => r.op === 'value.init').length).toBe(1);
    const b = new Value<number>(t, 'hits', { initial: 100 });
    expect(await b.get()).toBe(2);
    await b.set(5);
    expect(await a.compareAndSet(5, 10)).toBe(true);
    expect(await a.compareAndSet(5, 11)).toBe(false);
    expect(await a.get()).toBe(10);
    const big = new Value<bigint>(t, 'big');
    expect(await big.add(2n ** 64n)).toBe(2n ** 64n);
    expect(await codeOf(new Value(t, 'never').get())).toBe('E_NO_SUCH_VALUE');
  });

  it('Value: rejects (never throws) bad names and uncloneable values, with codes', async () => {
    const bad = new Value(t, '');
    const p = bad.get();
    expect(p).toBeInstanceOf(Promise);
    expect(await codeOf(p)).toBe('E_BAD_NAME');
    expect(() => bad.subscribe(() => {})).toThrow(expect.objectContaining({ code: 'E_BAD_NAME' }));
    const v = new Value<unknown>(t, 'v');
    expect(await codeOf(v.set({ f: () => 1 }))).toBe('E_NOT_CLONEABLE');
    expect(await codeOf(new Value<unknown>(t, 'v2', { initial: Symbol('x') }).get())).toBe('E_NOT_CLONEABLE');
    await v.set('text');
    expect(await codeOf(v.add(1 as never))).toBe('E_TYPE');
  });

  it('Value: subscribe delivers the current value then every change, never going back', async () => {
    const v = new Value<number>(t, 'n', { initial: 1 });
    const seen: [number, number][] = [];
    const stop = v.subscribe((value, version) => seen.push([value, version]));
    await tick();
    for (let i = 0; i < 5; i++) await v.add(1);
    await tick();
    // A stale push (as after a reconnect race) is dropped.
    t.deliver({ type: 'push', kind: 'value', name: 'n', version: 2, value: new Uint8Array([0x63]) });
    expect(seen).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
      [5, 5],
      [6, 6],
    ]);
    stop();
    await tick();
    await v.add(1);
    await tick();
    expect(seen.length).toBe(6);
    expect(t.sent.at(-2)?.op).toBe('value.unsubscribe');
  });

  it('Value: watch coalesces for a slow consumer and unsubscribes on break', async () => {
    const v = new Value<number>(t, 'w', { initial: 0 });
    const got: number[] = [];
    for await (const x of v.watch()) {
      got.push(x);
      if (x === 0) {
        // Many changes while the consumer is busy: it sees only the latest.
        await Promise.all(Array.from({ length: 20 }, () => v.add(1)));
        await tick();
      }
      if (x === 20) break;
    }
    expect(got).toEqual([0, 20]);
    await tick();
    expect(t.sent.some((r) => r.op === 'value.unsubscribe')).toBe(true);
  });

  it('Queue: put, get with timeout, size', async () => {
    const q = new Queue<{ n: number }>(t, 'jobs');
    await q.put({ n: 1 });
    await q.put({ n: 2 });
    expect(await q.size()).toBe(2);
    expect(await q.get()).toEqual({ n: 1 });
    expect(await q.get({ timeoutMs: 10 })).toEqual({ n: 2 });
    expect(await codeOf(q.get({ timeoutMs: 10 }))).toBe('E_TIMEOUT');
    expect(await codeOf(q.get({ timeoutMs: -1 }))).toBe('E_BAD_ARGUMENT');
    const waiting = q.get();
    await new Queue(new LocalTransport(state, 'c:2'), 'jobs').put({ n: 3 });
    expect(await waiting).toEqual({ n: 3 });
  });

  it('Dict: get/set/delete/has/keys/entries/size and subscribe', async () => {
    const d = new Dict<Map<string, number>>(t, 'cfg');
    const changes: [string, unknown, boolean][] = [];
    d.subscribe((key, value, deleted) => changes.push([key, value, deleted]));
    await tick();
    await d.set('a', new Map([['x', 1]]));
    await d.set('b', new Map());
    expect(await d.get('a')).toEqual(new Map([['x', 1]]));
    expect(await d.get('zz')).toBeUndefined();
    expect(await d.has('b')).toBe(true);
    expect(await d.keys()).toEqual(['a', 'b']);
    expect(await d.entries()).toEqual([
      ['a', new Map([['x', 1]])],
      ['b', new Map()],
    ]);
    expect(await d.delete('a')).toBe(true);
    expect(await d.size()).toBe(1);
    await tick();
    expect(changes).toEqual([
      ['a', new Map([['x', 1]]), false],
      ['b', new Map(), false],
      ['a', undefined, true],
    ]);
    expect(await codeOf(d.get(42 as unknown as string))).toBe('E_BAD_NAME');
  });

  it('Lock: withLock serialises, releases on throw, tokens grow', async () => {
    const l1 = new Lock(t, 'db');
    const l2 = new Lock(new LocalTransport(state, 'c:2'), 'db');
    const log: string[] = [];
    const tokens: number[] = [];
    await Promise.all([
      l1.withLock(async (token) => {
        tokens.push(token);
        log.push('1 in');
        await tick(20);
        log.push('1 out');
      }),
      l2.withLock(async (token) => {
        tokens.push(token);
        log.push('2 in');
        await tick(5);
        log.push('2 out');
      }),
    ]);
    expect(log).toEqual(['1 in', '1 out', '2 in', '2 out']);
    expect(tokens[1]!).toBeGreaterThan(tokens[0]!);
    await expect(
      l1.withLock(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(state.counts().locks).toBe(0);
    const g = await l1.acquire({ timeoutMs: 0 });
    expect(l1.token).toBe(g.token);
    expect(await codeOf(l2.acquire({ timeoutMs: 0 }))).toBe('E_TIMEOUT');
    await l1.release();
    expect(l1.token).toBeUndefined();
    expect(await codeOf(l1.release())).toBe('E_LOCK_NOT_HELD');
  });
});
