/** client.map / imap / submit / mapSettled end to end: real daemon, real workers. */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { task, type Client } from '@corepool/client';
import { type TestDaemon, useDaemon } from './support/daemon.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

describe('map', () => {
  it('returns 10,000 results in input order', async () => {
    const items = Array.from({ length: 10_000 }, (_, i) => i);
    const out = await client.map((x: number) => x * 2 + 1, items);
    expect(out).toEqual(items.map((x) => x * 2 + 1));
  });

  it('resolves to [] for empty input', async () => {
    expect(await client.map((x: number) => x, [])).toEqual([]);
    expect(await client.mapSettled((x: number) => x, [])).toEqual([]);
  });

  it('takes generators, iterables and async iterables', async () => {
    function* gen(): Generator<number> {
      for (let i = 0; i < 1000; i++) yield i;
    }
    expect(await client.map((x: number) => x + 1, gen())).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(await client.map((x: number) => x * 3, new Set([1, 2, 3]))).toEqual([3, 6, 9]);
    async function* slow(): AsyncGenerator<string> {
      for (let i = 0; i < 50; i++) {
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
        yield `s${i}`;
      }
    }
    expect(await client.map((s: string) => s.toUpperCase(), slow())).toEqual(Array.from({ length: 50 }, (_, i) => `S${i}`));
  });

  it('round-trips structured-clone types both ways', async () => {
    const item = {
      big: 2n ** 100n + 7n,
      date: new Date('2026-11-25T10:00:00Z'),
      bytes: new Uint8Array([0, 1, 255]),
      buf: Buffer.from('hello'),
      floats: new Float64Array([1.5, -2.25]),
      map: new Map<unknown, unknown>([
        [1, 'one'],
        ['k', { nested: true }],
      ]),
      set: new Set([1, 'a']),
      nil: null,
      nested: [1, [2, [3]]],
      undef: undefined,
    };
    const [out] = await client.map(
      (x: typeof item) => {
        if (!(x.map instanceof Map) || !(x.set instanceof Set) || !(x.date instanceof Date)) throw new Error('types lost on the way in');
        return { ...x, big: x.big * 2n, seen: [typeof x.big, x.bytes.constructor.name, x.floats.constructor.name] };
      },
      [item],
    );
    expect(out!.big).toBe((2n ** 100n + 7n) * 2n);
    expect(out!.date).toEqual(item.date);
    expect(out!.bytes).toEqual(item.bytes);
    expect(Buffer.from(out!.buf).toString()).toBe('hello');
    expect(out!.floats).toEqual(item.floats);
    expect(out!.map).toEqual(item.map);
    expect(out!.set).toEqual(item.set);
    expect(out!.nested).toEqual(item.nested);
    expect(out!.seen).toEqual(['bigint', 'Uint8Array', 'Float64Array']);
  });

  it('streams a 1,000,000-item batch', async () => {
    const n = 1_000_000;
    function* items(): Generator<number> {
      for (let i = 0; i < n; i++) yield i;
    }
    let progressCalls = 0;
    const out = await client.map((x: number) => x * 2, items(), { onProgress: () => progressCalls++ });
    expect(out.length).toBe(n);
    let sum = 0;
    for (const v of out) sum += v;
    expect(sum).toBe(n * (n - 1));
    expect(out[n - 1]).toBe((n - 1) * 2);
    expect(progressCalls).toBeGreaterThan(1);
  });

  it('rejects with a TaskError carrying the code, index and remote stack; the pool stays usable', async () => {
    const err = await client
      .map(
        (x: number) => {
          if (x === 137) throw new RangeError(`bad item ${x}`);
          return x;
        },
        Array.from({ length: 500 }, (_, i) => i),
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TaskError', code: 'E_TASK_FAILED', index: 137, remoteName: 'RangeError' });
    expect((err as { remoteCode?: string }).remoteCode).toBeUndefined();
    expect((err as Error).message).toContain('bad item 137');
    // The remote error's own code (Node's, or an app's) comes as remoteCode: the TaskError's code is E_TASK_FAILED.
    const missing = await client
      .submit(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        return (require('node:fs') as typeof import('node:fs')).readFileSync('/nonexistent/corepool-file');
      }, 0)
      .catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'E_TASK_FAILED', remoteName: 'Error', remoteCode: 'ENOENT' });
    const own = await client
      .submit(() => {
        throw Object.assign(new Error('quota'), { code: 'APP_QUOTA' });
      }, 0)
      .catch((e: unknown) => e);
    expect(own).toMatchObject({ code: 'E_TASK_FAILED', remoteCode: 'APP_QUOTA' });
    expect((err as { remoteStack: string }).remoteStack).toContain('RangeError');
    expect(await client.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
  });

  it('reports thrown non-Errors and async rejections', async () => {
    const settled = await client.mapSettled(
      async (x: number) => {
        if (x === 0) throw 42;
        if (x === 1) return Promise.reject(new Error('async no'));
        await new Promise((r) => setTimeout(r, 1));
        return x;
      },
      [0, 1, 2],
    );
    expect(settled[0]).toMatchObject({ status: 'rejected', reason: { code: 'E_TASK_FAILED', index: 0, thrown: '42' } });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: 'E_TASK_FAILED', index: 1, message: 'async no' } });
    expect(settled[2]).toEqual({ status: 'fulfilled', value: 2 });
  });

  it("an item's error shows where the app called map and the worker's stack, not the SDK's message handler", async () => {
    async function callerOfMap(): Promise<unknown> {
      return client.map(
        (x: number) => {
          if (x === 2) throw new Error('boom');
          return x;
        },
        [1, 2],
      );
    }
    const err = (await callerOfMap().catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/boom/);
    const [local, remote] = err.stack!.split('--- remote ---') as [string, string];
    expect(local).toMatch(/callerOfMap/);
    expect(local).not.toMatch(/batch-call|connection\.js|[/\\]ws[/\\]lib/);
    expect(remote).toMatch(/Error: boom/);
  });

  it("a task error's remote stack holds the task's own frames, not the worker's that called it", async () => {
    const err = (await client
      .map(
        function outer(x: number): number {
          function inner(n: number): number {
            if (n > 0) throw new Error('deep');
            return n;
          }
          return inner(x);
        },
        [1],
      )
      .catch((e: unknown) => e)) as Error;
    const remote = err.stack!.split('--- remote ---')[1]!;
    expect(remote).toMatch(/Error: deep\n\s+at inner .*\n\s+at outer /);
    expect(remote).not.toMatch(/runner|leftovers|worker[/\\]main|node:/);
    // An async task's frames after an await are kept too; only the worker's calling end is cut.
    const later = (await client
      .map(
        async function slow(x: number): Promise<number> {
          await new Promise((r) => setTimeout(r, 1));
          throw new Error(`later ${x}`);
        },
        [1],
      )
      .catch((e: unknown) => e)) as Error;
    const remoteLater = later.stack!.split('--- remote ---')[1]!;
    expect(remoteLater).toMatch(/Error: later 1\n\s+at slow /);
    expect(remoteLater).not.toMatch(/runner|leftovers|node:/);
  });

  it('submit, imap and mapSettled errors show their caller too, up to the app frames kept', async () => {
    const boom = (x: number): number => {
      if (x === 2) throw new Error('boom');
      return x;
    };
    async function callerOfSubmit(): Promise<unknown> {
      return client.submit(boom, 2);
    }
    function callerOfImap(): AsyncGenerator<number> {
      // The stack is taken where imap is called, not where the loop first pulls.
      return client.imap(boom, [1, 2]);
    }
    async function callerOfMapSettled(): Promise<PromiseSettledResult<number>[]> {
      return client.mapSettled(boom, [1, 2]);
    }
    const fromImap = callerOfImap();
    const errors: Error[] = [
      (await callerOfSubmit().catch((e: unknown) => e)) as Error,
      (await (async () => {
        for await (const _ of fromImap) void _;
      })().catch((e: unknown) => e)) as Error,
      ((await callerOfMapSettled())[1] as PromiseRejectedResult).reason as Error,
    ];
    for (const [err, caller] of [
      [errors[0], /callerOfSubmit/],
      [errors[1], /callerOfImap/],
      [errors[2], /callerOfMapSettled/],
    ] as const) {
      const [local, remote] = err!.stack!.split('--- remote ---') as [string, string];
      expect(local).toMatch(caller);
      expect(local).not.toMatch(/batch-call|client\.[jt]s|connection\.js|[/\\]ws[/\\]lib/);
      expect(remote).toMatch(/Error: boom/);
    }
    // A deep caller keeps its nearest frames, whatever the SDK's depth.
    const deep = (n: number): Promise<unknown> => (n === 0 ? client.submit(boom, 2) : deep(n - 1));
    const err = (await deep(20).catch((e: unknown) => e)) as Error;
    const local = err.stack!.split('--- remote ---')[0]!;
    expect(local.split('\n').filter((l) => l.includes('at deep')).length).toBeGreaterThanOrEqual(4);
  });

  it('map and imap called on something that is not a client reject (map) or throw from the first next() (imap), never at the call', async () => {
    const proto = Object.getPrototypeOf(client) as Client;
    let promise: Promise<unknown> | undefined;
    let gen: AsyncGenerator<unknown> | undefined;
    expect(() => (promise = proto.map.call({} as Client, (x: unknown) => x, [1]))).not.toThrow();
    await expect(promise).rejects.toThrow(TypeError);
    expect(() => (gen = proto.imap.call({} as Client, (x: unknown) => x, [1]))).not.toThrow();
    await expect(gen!.next()).rejects.toThrow(TypeError);
  });

  it('names the compiler target when a down-levelled function misses a helper such as __awaiter', async () => {
    // What TypeScript emits for an async arrow at target ES2015: the helper lives at module scope, not in the function.
    const downlevelled = new Function('return (x) => __awaiter(this, void 0, void 0, function* () { return x; })')() as (
      x: number,
    ) => Promise<number>;
    const err = await client.map(downlevelled, [1]).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/__awaiter is not defined.*"target": "ES2017"/);
  });

  it("runs a function compiled by esbuild with names kept (tsx): its __name helper calls name the task's own functions", async () => {
    // What tsx emits for a task that defines helpers inside itself: __name lives at module scope, not in the function.
    const fromTsx = new Function(
      'return (n) => { const sq = /* @__PURE__ */ __name((x) => x * x, "sq"); function cube(x) { return x * x * x; } __name(cube, "cube"); return [sq(n) + cube(n), sq.name, cube.name]; }',
    )() as (n: number) => [number, string, string];
    expect(await client.map(fromTsx, [1, 2])).toEqual([
      [2, 'sq', 'cube'],
      [12, 'sq', 'cube'],
    ]);
    // A task that defines a __name of its own uses that one.
    const own = new Function('return (n) => { const __name = (f) => f; return __name(n) + 1; }')() as (n: number) => number;
    expect(await client.map(own, [1])).toEqual([2]);
  });

  it('says a function must be self-contained when it uses its closure', async () => {
    const factor = 3;
    const err = await client.map((x: number) => x * factor, [1]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_TASK_FAILED', index: 0 });
    expect((err as Error).message).toMatch(/factor is not defined.*self-contained/);
  });

  it('300 maps failed by an item that cannot travel, in a chunk with others: the client still maps (no chunk slot kept)', async () => {
    // map() fails at its first failed item, before the chunk that held it is sent: that chunk's slot went with it,
    // and after 256 (the client's chunks in flight) every map of the client waited for ever.
    for (let i = 0; i < 300; i++) {
      const err = await client.map((x: unknown) => x, [1, 2, Symbol('bad'), 4], { chunkSize: 4 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_NOT_CLONEABLE', index: 2 });
    }
    expect(await client.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
  }, 60_000);

  it('rejects items and results that structured clone cannot copy, with a code and the index', async () => {
    const bad = await client.map((x: unknown) => x, [1, () => 2, 3]).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'E_NOT_CLONEABLE', index: 1 });
    const settled = await client.mapSettled((x: number) => (x === 1 ? { f: () => 1 } : x === 2 ? Symbol('s') : x), [0, 1, 2, 3]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(settled[1]).toMatchObject({ reason: { code: 'E_NOT_CLONEABLE', index: 1 } });
    expect(settled[2]).toMatchObject({ reason: { code: 'E_NOT_CLONEABLE', index: 2 } });
    const promiseResult = await client.map(() => ({ p: new Promise(() => {}) }), [0]).catch((e: unknown) => e);
    expect(promiseResult).toMatchObject({ code: 'E_NOT_CLONEABLE', index: 0 });
    // A class with toJSON() went as what toJSON() returned (msgpackr), where structured clone copies its own properties.
    const jsonResult = await client
      .submit(
        () =>
          new (class Decimal {
            v = 1.5;
            toJSON(): string {
              return String(this.v);
            }
          })(),
        0,
      )
      .catch((e: unknown) => e);
    expect(jsonResult).toMatchObject({
      code: 'E_NOT_CLONEABLE',
      index: 0,
      message: expect.stringContaining('(Decimal) with a toJSON() method'),
    });
  });

  it('rejects with the iterable’s own error, and the pool stays usable', async () => {
    const boom = new Error('source broke');
    function* items(): Generator<number> {
      yield 1;
      yield 2;
      throw boom;
    }
    await expect(client.map((x: number) => x, items())).rejects.toBe(boom);
    const seen: number[] = [];
    const it = client.imap((x: number) => x * 10, items());
    await expect(
      (async () => {
        for await (const v of it) seen.push(v);
      })(),
    ).rejects.toBe(boom);
    expect(seen).toEqual([10, 20]);
    expect(await client.map((x: number) => x, [7])).toEqual([7]);
  });

  it('rejects bad arguments with E_BAD_ARGUMENT / E_BAD_TASK', async () => {
    await expect(client.map((x: number) => x, [1], { chunkSize: 0 })).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    await expect(client.map((x: number) => x, [1], { timeoutMs: -1 })).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    await expect(client.map((x: number) => x, 42 as unknown as number[])).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    await expect(client.map('x => x' as unknown as (x: number) => number, [1])).rejects.toMatchObject({ code: 'E_BAD_TASK' });
    await expect(client.map(Math.max as unknown as (x: number) => number, [1])).rejects.toMatchObject({ code: 'E_BAD_TASK' });
  });

  it('runs method-shorthand and async functions', async () => {
    const obj = {
      double(x: number) {
        return x * 2;
      },
      async triple(x: number) {
        return x * 3;
      },
    };
    expect(await client.map(obj.double, [1, 2])).toEqual([2, 4]);
    expect(await client.map(obj.triple, [1, 2])).toEqual([3, 6]);
  });

  it('runs module tasks', async () => {
    const file = join(d.dataDir, 'tasks.mjs');
    writeFileSync(file, 'export function square(x) { return x * x; }\nexport const notFn = 1;\nexport class Shape {}\n');
    expect(await client.map(task<number, number>(file, 'square'), [1, 2, 3])).toEqual([1, 4, 9]);
    // What is exported is named, so a typo shows.
    await expect(client.map(task(file, 'notFn'), [1])).rejects.toMatchObject({
      code: 'E_BAD_TASK',
      message: expect.stringMatching(/has no exported function "notFn"; its exported functions: Shape, square$/),
    });
    // A class is a function that cannot be called: E_BAD_TASK, not a TaskError for each item.
    await expect(client.map(task(file, 'Shape'), [1])).rejects.toMatchObject({
      code: 'E_BAD_TASK',
      message: expect.stringMatching(/as a class/),
    });
    // Node's message names the file that imported it, here the worker's own: nothing the app can act on.
    const missing = await client.map(task(join(d.dataDir, 'missing.mjs'), 'x'), [1]).catch((err: Error) => err);
    expect(missing).toMatchObject({
      code: 'E_BAD_TASK',
      message: expect.stringMatching(/cannot import task module .*missing\.mjs: Cannot find module/),
    });
    expect((missing as Error).message).not.toMatch(/imported from/);
  });

  it('lets tasks use require() and import() for Node built-ins', async () => {
    const out = await client.map(
      (s: string) => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { createHash } = require('node:crypto') as typeof import('node:crypto');
        return createHash('sha256').update(s).digest('hex').slice(0, 8);
      },
      ['a', 'b'],
    );
    expect(out).toEqual(['ca978112', '3e23e816']);
    // Built from a string: vitest rewrites import() in this file's own source.
    const viaImport = new Function('n', "return import('node:os').then((os) => os.EOL.length + n);") as (n: number) => Promise<number>;
    expect(await client.submit(viaImport, 1)).toBe(2);
    // No main module: the worker's own file is not the app's (a library finding its root from require.main).
    expect(await client.submit(() => [typeof require.main, typeof process.mainModule], 0)).toEqual(['undefined', 'undefined']);
  });

  it('gives the task a ctx with index and pid', async () => {
    const out = await client.map((_x: number, ctx: { index: number; pid: number }) => [ctx.index, ctx.pid], [5, 6, 7]);
    expect(out.map((r) => r[0])).toEqual([0, 1, 2]);
    expect(typeof out[0]![1]).toBe('number');
  });
});

describe('imap and submit', () => {
  it('imap yields in order, or in arrival order with ordered: false', async () => {
    const items = Array.from({ length: 300 }, (_, i) => i);
    const ordered: number[] = [];
    for await (const v of client.imap((x: number) => x * 2, items)) ordered.push(v);
    expect(ordered).toEqual(items.map((x) => x * 2));
    const unordered: number[] = [];
    for await (const v of client.imap(
      async (x: number) => {
        await new Promise((r) => setTimeout(r, (x % 3) * 2));
        return x;
      },
      items,
      { ordered: false },
    ))
      unordered.push(v);
    expect([...unordered].sort((a, b) => a - b)).toEqual(items);
  });

  it('breaking out of imap cancels the rest and the pool stays usable', async () => {
    let n = 0;
    for await (const v of client.imap(
      (x: number) => x,
      Array.from({ length: 100_000 }, (_, i) => i),
    )) {
      n += v >= 0 ? 1 : 0;
      if (n === 10) break;
    }
    expect(n).toBe(10);
    expect(await client.submit((x: number) => x + 1, 41)).toBe(42);
  });

  it('imap whose signal aborts throws E_CANCELLED at its next step, not after the results it had read ahead', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    const err = await (async () => {
      for await (const v of client.imap(
        (x: number) => {
          const end = Date.now() + 2;
          while (Date.now() < end);
          return x;
        },
        Array.from({ length: 500 }, (_, i) => i),
        { signal: ac.signal },
      )) {
        seen.push(v);
        if (seen.length === 10) {
          // Let results pile up behind the consumer first, as a slow loop would.
          await new Promise((r) => setTimeout(r, 200));
          ac.abort();
        }
      }
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_CANCELLED' });
    expect(seen).toHaveLength(10);
    expect(await client.submit((x: number) => x + 1, 41)).toBe(42);
  });

  it('submit runs one task and rejects with its error', async () => {
    expect(await client.submit((s: string) => s.length, 'four')).toBe(4);
    await expect(
      client.submit(() => {
        throw new Error('nope');
      }, 0),
    ).rejects.toMatchObject({ code: 'E_TASK_FAILED', index: 0 });
  });

  it('mapSettled gives one outcome per item', async () => {
    const out = await client.mapSettled(
      (x: number) => {
        if (x % 2 === 1) throw new Error(`odd ${x}`);
        return x;
      },
      [0, 1, 2, 3],
    );
    expect(out).toMatchObject([
      { status: 'fulfilled', value: 0 },
      { status: 'rejected', reason: { code: 'E_TASK_FAILED', index: 1 } },
      { status: 'fulfilled', value: 2 },
      { status: 'rejected', reason: { code: 'E_TASK_FAILED', index: 3 } },
    ]);
  });

  it('uses both workers', async () => {
    const pids = await client.map(
      () => {
        const end = Date.now() + 30;
        while (Date.now() < end) {
          /* busy */
        }
        return process.pid;
      },
      Array.from({ length: 8 }, (_, i) => i),
    );
    expect(new Set(pids).size).toBe(2);
  });
});
