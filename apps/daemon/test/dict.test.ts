/**
 * Dict across real processes: writes from apps and tasks seen by everyone,
 * subscribers getting every (key, value) and every deletion in order, keys
 * that are plain strings (never prototype keys), coded errors, and every
 * structured-clone type.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { startDaemon, type TestDaemon, useDaemon } from './support/daemon.js';
import { codeOf } from './support/checks.js';
import { until } from './support/wait.js';
import { startApp } from './apps/spawn-app.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

describe('Dict', () => {
  it('set, get, has, delete, keys, entries and size, seen alike by another client and a task', async () => {
    const cfg = client.dict<number>('cfg');
    await cfg.set('a', 1);
    await cfg.set('b', 2);
    await cfg.set('a', 3);
    const other = await d.connect();
    const o = other.dict<number>('cfg');
    expect(await o.get('a')).toBe(3);
    expect(await o.get('missing')).toBeUndefined();
    expect(await o.has('b')).toBe(true);
    expect(await o.has('missing')).toBe(false);
    expect(await o.keys()).toEqual(['a', 'b']);
    expect(await o.entries()).toEqual([
      ['a', 3],
      ['b', 2],
    ]);
    expect(await o.size()).toBe(2);
    const [fromTask] = await client.map(
      async (n: string, ctx) => {
        const dict = ctx.dict<number>(n);
        await dict.set('c', (await dict.get('a'))! + 10);
        const removed = await dict.delete('b');
        const again = await dict.delete('b');
        return { removed, again, keys: await dict.keys(), size: await dict.size() };
      },
      ['cfg'],
    );
    expect(fromTask).toEqual({ removed: true, again: false, keys: ['a', 'c'], size: 2 });
    expect(await o.entries()).toEqual([
      ['a', 3],
      ['c', 13],
    ]);
    await other.close();
  });

  it('delete() with no argument deletes the whole dict, as on every handle (delete(key) one key), from an app and a task', async () => {
    const dict = client.dict<number>('whole');
    await dict.set('a', 1);
    await dict.set('b', 2);
    expect(await dict.delete()).toBe(true);
    expect(await dict.size()).toBe(0);
    expect(await dict.keys()).toEqual([]);
    expect((await client.list()).entries.some((e) => e.name === 'whole')).toBe(false);
    expect(await dict.delete()).toBe(false);
    // An explicit undefined key is a bad key, not "the whole dict".
    await dict.set('a', 1);
    expect(await codeOf(dict.delete(undefined as unknown as string))).toBe('E_BAD_NAME');
    expect(await dict.get('a')).toBe(1);
    const [fromTask] = await client.map(
      async (n: string, ctx) => {
        const d = ctx.dict<number>(n);
        const removed = await d.delete();
        return { removed, size: await d.size() };
      },
      ['whole'],
    );
    expect(fromTask).toEqual({ removed: true, size: 0 });
  });

  it('keys are plain strings: __proto__, constructor and the empty key are ordinary keys', async () => {
    const dict = client.dict<unknown>('protoish');
    await dict.set('__proto__', { polluted: true });
    await dict.set('constructor', 1);
    await dict.set('', 'empty');
    expect(await dict.get('__proto__')).toEqual({ polluted: true });
    expect(await dict.get('constructor')).toBe(1);
    expect(await dict.get('')).toBe('empty');
    expect(await dict.get('toString')).toBeUndefined();
    expect(await dict.has('hasOwnProperty')).toBe(false);
    expect((await dict.keys()).sort()).toEqual(['', '__proto__', 'constructor']);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('a subscriber gets (key, value) for every set and (key, undefined, true) for every delete, in order, from a task too', async () => {
    const name = 'watched-dict';
    const events: [string, unknown, boolean][] = [];
    const stop = client.dict(name).subscribe((k, v, deleted) => events.push([k, v, deleted]));
    await client.dict(name).size(); // a round trip: the subscription is in place
    const other = await d.connect();
    const o = other.dict<unknown>(name);
    await o.set('x', 1);
    await o.set('y', new Map([['m', new Date(9)]]));
    await o.set('x', 2);
    expect(await o.delete('x')).toBe(true);
    expect(await o.delete('x')).toBe(false); // nothing removed: no event
    await client.map(
      async (n: string, ctx) => {
        await ctx.dict(n).set('z', 2n ** 65n);
        await ctx.dict(n).delete('y');
      },
      [name],
    );
    const expected: [string, unknown, boolean][] = [
      ['x', 1, false],
      ['y', new Map([['m', new Date(9)]]), false],
      ['x', 2, false],
      ['x', undefined, true],
      ['z', 2n ** 65n, false],
      ['y', undefined, true],
    ];
    await until(() => events.length >= expected.length, 10_000, 'every dict event');
    expect(events).toEqual(expected);
    stop();
    await o.set('after', 1);
    await client.dict(name).size();
    await other.dict(name).size();
    expect(events.length).toBe(expected.length);
    await other.close();
  });

  it("a task subscribes to a dict and sees an app's changes", async () => {
    const name = 'task-watched-dict';
    const run = client.submit(async (n: string, ctx) => {
      const got: [string, unknown, boolean][] = [];
      const dict = ctx.dict(n);
      await new Promise<void>((resolve) => {
        const stop = dict.subscribe((k, v, del) => {
          got.push([k, v, del]);
          if (k === 'end') {
            stop();
            resolve();
          }
        });
        void dict.set('ready', true);
      });
      return got;
    }, name);
    const dict = client.dict<unknown>(name);
    await until(async () => (await dict.get('ready')) === true, 30_000, 'the task to subscribe');
    await dict.set('a', 1);
    await dict.delete('a');
    await dict.set('end', 0);
    const got = await run;
    // The task may or may not see its own 'ready' depending on when subscribe took effect.
    expect(got.filter(([k]) => k !== 'ready')).toEqual([
      ['a', 1, false],
      ['a', undefined, true],
      ['end', 0, false],
    ]);
  });

  it("a subscriber process that stops reading gets coalesced pushes and still ends with the dict's exact state", async () => {
    // A low high-water mark, so the daemon coalesces pushes for the stopped process (per key, latest wins).
    await using slow = await startDaemon({ args: ['--send-high-water', '65536'] });
    const c = await slow.connect();
    await using w = startApp(slow, 'slow-watcher.mjs', { kind: 'dict', name: 'slow', end: 'end' });
    await w.line((l) => l.ready === true);
    process.kill(w.pid, 'SIGSTOP');
    const dict = c.dict<{ i: number; pad: string } | number>('slow');
    const pad = 'x'.repeat(32 * 1024);
    try {
      for (let i = 0; i < 300; i++) await dict.set(`k${i % 5}`, { i, pad });
      await dict.delete('k4');
      await dict.set('end', 1);
    } finally {
      process.kill(w.pid, 'SIGCONT');
    }
    const out = await w.done();
    const short = (entries: [string, unknown][]): [string, unknown][] =>
      entries.map(([k, v]) => [k, typeof v === 'object' && v !== null ? (v as { i: number }).i : v]);
    const actual = (await dict.entries()).sort(([a], [b]) => (a < b ? -1 : 1));
    expect(short(out.view as [string, unknown][])).toEqual(short(actual));
    expect(short(actual)).toEqual([
      ['end', 1],
      ['k0', 295],
      ['k1', 296],
      ['k2', 297],
      ['k3', 298],
    ]);
  });

  it('every structured-clone type round-trips as a dict value', async () => {
    const samples: Record<string, unknown> = {
      big: 123456789012345678901234567890n,
      date: new Date(86_400_000),
      map: new Map<unknown, unknown>([
        [{ k: 1 }, 'objkey'],
        ['s', new Set([1])],
      ]),
      set: new Set([null, 'a', 3]),
      bytes: new Uint8Array(300).map((_, i) => i % 256),
      i32: new Int32Array([-1, 2 ** 31 - 1]),
      nested: [{ when: new Date(1), tags: new Set(['x']) }],
    };
    const dict = client.dict('typed-dict');
    for (const [k, v] of Object.entries(samples)) await dict.set(k, v);
    const other = await d.connect();
    const entries = new Map(await other.dict('typed-dict').entries());
    for (const [k, v] of Object.entries(samples)) expect(entries.get(k), k).toEqual(v);
    const [fromTask] = await client.map(async (n: string, ctx) => ctx.dict(n).get('bytes'), ['typed-dict']);
    expect(fromTask).toEqual(samples.bytes);
    expect(fromTask).toBeInstanceOf(Uint8Array);
    await other.close();
  });

  it('E_BAD_NAME for a bad dict name or key, E_NOT_CLONEABLE for a function, E_TOO_LARGE past one frame, nothing stored', async () => {
    expect(await codeOf(client.dict('').set('k', 1))).toBe('E_BAD_NAME');
    expect(await codeOf(client.dict('').keys())).toBe('E_BAD_NAME');
    expect(await codeOf(() => client.dict('').subscribe(() => {}))).toBe('E_BAD_NAME');
    expect(await codeOf(client.dict('d').get(1 as unknown as string))).toBe('E_BAD_NAME');
    expect(await codeOf(client.dict('d').set('k'.repeat(5000), 1))).toBe('E_BAD_NAME');
    expect(await codeOf(client.dict('d').set('f', () => 1))).toBe('E_NOT_CLONEABLE');
    expect(await codeOf(client.dict('d').set('f', { then: () => 1 }))).toBe('E_NOT_CLONEABLE');
    expect(await codeOf(client.dict('d').set('f', new Uint8Array(9 * 1024 * 1024)))).toBe('E_TOO_LARGE');
    expect(await client.dict('d').has('f')).toBe(false);
    const [fromTask] = await client.map(
      async (_: number, ctx) => {
        try {
          await ctx.dict('d').set('f', () => 1);
          return 'no error';
        } catch (err) {
          return (err as { code: string }).code;
        }
      },
      [0],
    );
    expect(fromTask).toBe('E_NOT_CLONEABLE');
  });
});
