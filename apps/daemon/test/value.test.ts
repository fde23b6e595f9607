/**
 * Value across real processes: app processes and tasks adding to one counter
 * (every result unique, contiguous, the total exact), subscribers that never
 * go backwards, watch() cleanup seen at the daemon, coded errors, `initial`,
 * and every structured-clone type.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { startDaemon, type TestDaemon, useDaemon } from './support/daemon.js';
import { codeOf } from './support/checks.js';
import { until } from './support/wait.js';
import { startApp, startTogether } from './apps/spawn-app.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

/** 1..n, each once. */
function expectContiguous(values: number[], n: number): void {
  expect(values.length).toBe(n);
  const sorted = [...values].sort((a, b) => a - b);
  for (let i = 0; i < n; i++) if (sorted[i] !== i + 1) expect.fail(`results are not 1..${n}: position ${i} holds ${sorted[i]}`);
}

describe('Value across processes', () => {
  it('watch() ends with E_CLOSED when its client is closed, instead of waiting forever', async () => {
    const c2 = await d.connect();
    const v = c2.value<number>('closing', { initial: 1 });
    const seen: number[] = [];
    const loop = (async () => {
      for await (const x of v.watch()) seen.push(x);
    })();
    await until(() => seen.length > 0, 10_000, 'the first value');
    const ended = expect(loop).rejects.toMatchObject({ code: 'E_CLOSED' });
    await c2.close();
    await ended;
    expect(seen).toEqual([1]);
  });

  it('four app processes add concurrently: unique contiguous results, the exact total, a subscriber that ends on it', async () => {
    const name = 'four-adders';
    const n = 2500;
    const seen: number[] = [];
    const stop = client.value<number>(name).subscribe((v) => seen.push(v));
    await using a = startApp(d, 'adder.mjs', { name, n });
    await using b = startApp(d, 'adder.mjs', { name, n });
    await using c = startApp(d, 'adder.mjs', { name, n });
    await using e = startApp(d, 'adder.mjs', { name, n });
    const apps = [a, b, c, e];
    await startTogether(apps);
    const t0 = performance.now();
    const outs = await Promise.all(apps.map((x) => x.done()));
    const wall = performance.now() - t0;
    const total = 4 * n;
    const all: number[] = [];
    for (const o of outs) {
      const r = o.results as number[];
      // One process's awaited adds see its own earlier adds: strictly increasing.
      for (let i = 1; i < r.length; i++) expect(r[i]!).toBeGreaterThan(r[i - 1]!);
      all.push(...r);
    }
    expectContiguous(all, total);
    expect(await client.value(name).get()).toBe(total);
    await until(() => seen.at(-1) === total, 10_000, 'the subscriber to see the total');
    stop();
    for (let i = 1; i < seen.length; i++) if (seen[i]! <= seen[i - 1]!) expect.fail(`subscriber went from ${seen[i - 1]} to ${seen[i]}`);
    console.log(
      `value.add from 4 processes: ${total} adds in ${wall.toFixed(0)} ms = ${Math.round(total / (wall / 1000))} add/s (subscriber saw ${seen.length} versions)`,
    );
  });

  it('tasks add through ctx.value while an app process adds too', async () => {
    const name = 'ctx-adder';
    const tasks = 1000;
    const appAdds = 1000;
    await using app = startApp(d, 'adder.mjs', { name, n: appAdds });
    await startTogether([app]);
    const fromTasks = await client.map(
      (counter: string, ctx) => ctx.value<number>(counter).add(1),
      Array.from({ length: tasks }, () => name),
    );
    const fromApp = (await app.done()).results as number[];
    expectContiguous([...fromTasks, ...fromApp], tasks + appAdds);
    expect(await client.value(name).get()).toBe(tasks + appAdds);
  });

  it('a task sees what an app wrote, and an app what a task wrote', async () => {
    await client.value('from-app').set({ n: 1, at: new Date(5) });
    const [read] = await client.map(
      async (n: string, ctx) => {
        const v = await ctx.value<{ n: number; at: Date }>(n).get();
        await ctx.value('from-task').set({ seen: v.n, t: v.at.getTime() });
        return v;
      },
      ['from-app'],
    );
    expect(read).toEqual({ n: 1, at: new Date(5) });
    expect(await client.value('from-task').get()).toEqual({ seen: 1, t: 5 });
  });

  it('breaking out of watch() unsubscribes at the daemon: no push comes after', async () => {
    const name = 'watched';
    const v = client.value<number>(name, { initial: 0 });
    await v.get();
    await using w = startApp(d, 'watcher.mjs', { name, stopAt: 20 });
    // Add until the watcher has seen 20 and broken out.
    let broke: Record<string, unknown> | undefined;
    void w.line((l) => l.broke === true).then((l) => (broke = l));
    while (broke === undefined) {
      await v.add(1);
      await new Promise((r) => setTimeout(r, 2));
    }
    const seen = broke.seen as number[];
    expect(seen.at(-1)).toBeGreaterThanOrEqual(20);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
    for (let i = 0; i < 200; i++) await v.add(1);
    w.send('check');
    const out = await w.done();
    expect(out.pushesAfterBreak).toBe(0);
    expect(out.isValue).toBe(true);
  });

  it('a subscriber process that stops reading gets the latest value, never an older one after a newer one', async () => {
    await using slow = await startDaemon({ args: ['--send-high-water', '65536'] });
    const c = await slow.connect();
    await using w = startApp(slow, 'slow-watcher.mjs', { kind: 'value', name: 'slow', end: 400 });
    await w.line((l) => l.ready === true);
    process.kill(w.pid, 'SIGSTOP');
    const v = c.value<{ n: number; pad: string }>('slow');
    const pad = 'x'.repeat(32 * 1024);
    try {
      for (let n = 1; n <= 400; n++) await v.set({ n, pad });
    } finally {
      process.kill(w.pid, 'SIGCONT');
    }
    const seen = (await w.done()).seen as number[];
    expect(seen.at(-1)).toBe(400);
    for (let i = 1; i < seen.length; i++) if (seen[i]! <= seen[i - 1]!) expect.fail(`went from ${seen[i - 1]} to ${seen[i]}`);
    console.log(`slow value subscriber: ${seen.length} of 400 versions delivered (the rest coalesced)`);
  });

  it('subscribe in a task sees the changes an app makes', async () => {
    const name = 'task-sub';
    const v = client.value<number>(name, { initial: 0 });
    await v.get();
    const run = client.submit(async (n: string, ctx) => {
      const seen: number[] = [];
      await new Promise<void>((resolve) => {
        const stop = ctx.value<number>(n).subscribe((x) => {
          seen.push(x);
          if (x >= 5) {
            stop();
            resolve();
          }
        });
      });
      return seen;
    }, name);
    // The task's subscription starts at some point: keep adding until it has seen 5.
    let done = false;
    void run.finally(() => (done = true)).catch(() => {});
    while (!done) {
      await v.add(1);
      await new Promise((r) => setTimeout(r, 5));
    }
    const seen = await run;
    expect(seen.at(-1)).toBeGreaterThanOrEqual(5);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
  });
});

describe('Value semantics', () => {
  it('a subscriber or options of the wrong type are refused with E_BAD_ARGUMENT at the call, and the client goes on', async () => {
    const v = client.value<number>('arg-check', { initial: 1 });
    const bad = (f: () => unknown): unknown => {
      try {
        f();
      } catch (err) {
        return (err as { code?: unknown }).code;
      }
      return 'no throw';
    };
    // Accepted before, then the first push threw "cb is not a function" outside the app's reach.
    expect(bad(() => v.subscribe(5 as never))).toBe('E_BAD_ARGUMENT');
    expect(bad(() => v.subscribe(() => {}, 'x' as never))).toBe('E_BAD_ARGUMENT');
    expect(bad(() => v.subscribe(() => {}, undefined, {} as never))).toBe('E_BAD_ARGUMENT');
    expect(bad(() => client.dict('arg-check').subscribe('nope' as never))).toBe('E_BAD_ARGUMENT');
    expect(bad(() => client.dict('arg-check').subscribe(() => {}, 7 as never))).toBe('E_BAD_ARGUMENT');
    // value(name, 5) does not quietly mean "no initial": every call rejects, as for a bad name.
    const odd = client.value('arg-check-odd', 5 as never);
    expect(await codeOf(odd.get())).toBe('E_BAD_ARGUMENT');
    expect(await codeOf(odd.set(1))).toBe('E_BAD_ARGUMENT');
    expect(await codeOf(client.value('arg-check-odd', null as never).add(1))).toBe('E_BAD_ARGUMENT');
    const seen: number[] = [];
    const stop = v.subscribe((x) => seen.push(x));
    await v.add(1);
    await until(() => seen.includes(2));
    stop();
  });

  it('initial creates but never overwrites, from a client or a task', async () => {
    const a = client.value<number>('init-once', { initial: 5 });
    expect(await a.add(1)).toBe(6);
    const other = await d.connect();
    expect(await other.value<number>('init-once', { initial: 100 }).get()).toBe(6);
    const [fromTask] = await client.map((n: string, ctx) => ctx.value<number>(n, { initial: 1000 }).get(), ['init-once']);
    expect(fromTask).toBe(6);
    await other.close();
    // Racing creators with different initials: exactly one wins and everybody sees it.
    const seen = await client.map((i: number, ctx) => ctx.value<number>('init-race', { initial: i }).get(), [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(new Set(seen).size).toBe(1);
    expect(await client.value('init-race', { initial: -1 }).get()).toBe(seen[0]);
  });

  it('ctx.value(name, { initial }) creates the value even after the worker made a handle on it without one', async () => {
    const [codes] = await client.map(
      async (n: string, ctx) => {
        const code = (p: Promise<unknown>): Promise<string> => p.then(String, (e: { code: string }) => e.code);
        const plain = await code(ctx.value(n).get());
        const bad = await code(ctx.value(n, { initial: () => 1 }).get());
        const good = await code(ctx.value(n, { initial: 5 }).get());
        const other = await code(ctx.value(n, { initial: 99 }).get());
        return [plain, bad, good, other];
      },
      ['lazy-initial'],
    );
    expect(codes).toEqual(['E_NO_SUCH_VALUE', 'E_NOT_CLONEABLE', '5', '5']);
  });

  it('compareAndSet is atomic: concurrent CAS increments from tasks and a client lose no update', async () => {
    const name = 'cas-counter';
    await client.value('cas-counter').set(0);
    const casInc = async (
      n: string,
      ctx: { value<T>(n: string): { get(): Promise<T>; compareAndSet(a: T, b: T): Promise<boolean> } },
    ): Promise<number> => {
      const v = ctx.value<number>(n);
      let tries = 0;
      for (;;) {
        tries++;
        const cur = await v.get();
        if (await v.compareAndSet(cur, cur + 1)) return tries;
      }
    };
    const both = await Promise.all([
      client.map(
        casInc,
        Array.from({ length: 300 }, () => name),
      ),
      (async () => {
        const v = client.value<number>(name);
        for (let i = 0; i < 300; i++) {
          for (;;) {
            const cur = await v.get();
            if (await v.compareAndSet(cur, cur + 1)) break;
          }
        }
      })(),
    ]);
    expect(both[0].length).toBe(300);
    expect(await client.value(name).get()).toBe(600);
    expect(await client.value('cas-counter').compareAndSet(-1, 0)).toBe(false);
    expect(await client.value('no-such-cas').compareAndSet(0, 1)).toBe(false);
  });

  it('BigInt add keeps every digit, also from a task', async () => {
    const big = 2n ** 100n;
    const v = client.value<bigint>('big', { initial: big });
    expect(await v.add(1n)).toBe(big + 1n);
    const r = await client.map((n: string, ctx) => ctx.value<bigint>(n).add(10n ** 30n), ['big', 'big']);
    expect(r.sort((x, y) => (x < y ? -1 : 1))).toEqual([big + 1n + 10n ** 30n, big + 1n + 2n * 10n ** 30n]);
    expect(await v.get()).toBe(big + 1n + 2n * 10n ** 30n);
    // Absent counts as 0 of the delta's type.
    expect(await client.value<bigint>('big-absent').add(-3n)).toBe(-3n);
    expect(await client.value<number>('num-absent').add(2.5)).toBe(2.5);
  });

  it('every structured-clone type round-trips through a Value, between a client, a task and another client', async () => {
    const samples: Record<string, unknown> = {
      null: null,
      bool: true,
      float: -0.5,
      str: 'héllo ✓',
      big: -(2n ** 80n),
      date: new Date('2024-02-29T12:34:56.789Z'),
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2, new Set([3])],
      ]),
      set: new Set(['x', 1, 2n]),
      bytes: new Uint8Array([0, 1, 254, 255]),
      f64: new Float64Array([1.5, -2]),
      nested: { list: [1, 'two', { three: [new Date(3)] }], m: new Map([['k', new Uint8Array([9])]]) },
      emptyObj: {},
    };
    const other = await d.connect();
    for (const [k, sample] of Object.entries(samples)) {
      await client.value(`clone-${k}`).set(sample);
      expect(await other.value(`clone-${k}`).get(), k).toEqual(sample);
    }
    const names = Object.keys(samples);
    // A task reads each one and writes it back under another name.
    const echoed = await client.map(async (k: string, ctx) => {
      const v = await ctx.value(`clone-${k}`).get();
      await ctx.value(`clone-back-${k}`).set(v);
      return v;
    }, names);
    for (let i = 0; i < names.length; i++) {
      const k = names[i]!;
      expect(echoed[i], k).toEqual(samples[k]);
      expect(await other.value(`clone-back-${k}`).get(), k).toEqual(samples[k]);
    }
    const bytes = await other.value('clone-bytes').get();
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(await other.value('clone-date').get()).toBeInstanceOf(Date);
    await other.close();
  });
});

describe('Value errors carry codes', () => {
  it('E_BAD_NAME for an empty, over-long or non-string name', async () => {
    expect(await codeOf(client.value('').get())).toBe('E_BAD_NAME');
    expect(await codeOf(client.value('x'.repeat(10_000)).set(1))).toBe('E_BAD_NAME');
    expect(await codeOf(client.value(42 as unknown as string).add(1))).toBe('E_BAD_NAME');
    expect(await codeOf(() => client.value('').subscribe(() => {}))).toBe('E_BAD_NAME');
    const [fromTask] = await client.map(
      async (_: number, ctx) => {
        try {
          await ctx.value('').get();
          return 'no error';
        } catch (err) {
          return (err as { code: string }).code;
        }
      },
      [0],
    );
    expect(fromTask).toBe('E_BAD_NAME');
  });

  it('E_NO_SUCH_VALUE for a get of a value never set, from a client and a task', async () => {
    expect(await codeOf(client.value('never-set').get())).toBe('E_NO_SUCH_VALUE');
    const [fromTask] = await client.map(
      async (n: string, ctx) => {
        try {
          await ctx.value(n).get();
          return 'no error';
        } catch (err) {
          return (err as { code: string }).code;
        }
      },
      ['never-set'],
    );
    expect(fromTask).toBe('E_NO_SUCH_VALUE');
  });

  it('E_TYPE for add on a non-number or across number and bigint', async () => {
    await client.value('a-string').set('hello');
    expect(await codeOf(client.value<number>('a-string').add(1))).toBe('E_TYPE');
    expect(await client.value('a-string').get()).toBe('hello');
    await client.value('a-number').set(1);
    expect(await codeOf(client.value<bigint>('a-number').add(1n as never))).toBe('E_TYPE');
    expect(await codeOf(client.value<number>('a-number').add('1' as never))).toBe('E_TYPE');
    expect(await client.value('a-number').get()).toBe(1);
    const [fromTask] = await client.map(
      async (n: string, ctx) => {
        try {
          await ctx.value<number>(n).add(1);
          return 'no error';
        } catch (err) {
          return (err as { code: string }).code;
        }
      },
      ['a-string'],
    );
    expect(fromTask).toBe('E_TYPE');
  });

  it('E_TOO_LARGE for a value over one frame, refused before sending: the connection and its other calls go on', async () => {
    const v = client.value<unknown>('too-large', { initial: 0 });
    const huge = new Uint8Array(9 * 1024 * 1024);
    const [code, added] = await Promise.all([codeOf(v.set(huge)), client.value<number>('beside-too-large').add(1)]);
    expect(code).toBe('E_TOO_LARGE');
    expect(added).toBe(1);
    expect(await codeOf(v.compareAndSet(0, huge))).toBe('E_TOO_LARGE');
    expect(await codeOf(client.value('too-large-init', { initial: huge }).get())).toBe('E_TOO_LARGE');
    expect(await v.get()).toBe(0);
    // A large value under the limit is fine, also read from a task.
    const big = new Uint8Array(4 * 1024 * 1024).fill(7);
    await v.set(big);
    // Buffer.equals, not toEqual: vitest's deep equality walks 4 Mi elements one by one (~30 s).
    const back = (await v.get()) as Uint8Array;
    expect(back).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(back.buffer, back.byteOffset, back.byteLength).equals(Buffer.from(big.buffer))).toBe(true);
    const [len] = await client.map(async (n: string, ctx) => ((await ctx.value(n).get()) as Uint8Array).length, ['too-large']);
    expect(len).toBe(big.length);
    const [fromTask] = await client.map(
      async (n: string, ctx) => {
        try {
          await ctx.value(n).set(new Uint8Array(9 * 1024 * 1024));
          return 'no error';
        } catch (err) {
          return (err as { code: string }).code;
        }
      },
      ['too-large'],
    );
    expect(fromTask).toBe('E_TOO_LARGE');
  });

  it('E_NOT_CLONEABLE for a function, a symbol or a promise, and nothing is stored', async () => {
    await client.value('uncloneable').set(1);
    expect(await codeOf(client.value('uncloneable').set(() => 1))).toBe('E_NOT_CLONEABLE');
    expect(await codeOf(client.value('uncloneable').set({ f: Symbol('s') }))).toBe('E_NOT_CLONEABLE');
    expect(await codeOf(client.value('uncloneable').set(Promise.resolve(1)))).toBe('E_NOT_CLONEABLE');
    expect(await codeOf(client.value('uncloneable').compareAndSet(1, [() => 2]))).toBe('E_NOT_CLONEABLE');
    expect(await codeOf(client.value('uncloneable-init', { initial: () => 1 }).get())).toBe('E_NOT_CLONEABLE');
    expect(await client.value('uncloneable').get()).toBe(1);
    expect(await codeOf(client.value('uncloneable-init').get())).toBe('E_NO_SUCH_VALUE');
    const [fromTask] = await client.map(
      async (n: string, ctx) => {
        try {
          await ctx.value(n).set(() => 1);
          return 'no error';
        } catch (err) {
          return (err as { code: string }).code;
        }
      },
      ['uncloneable'],
    );
    expect(fromTask).toBe('E_NOT_CLONEABLE');
  });
});
