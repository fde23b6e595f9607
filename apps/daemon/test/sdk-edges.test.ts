/**
 * What a careless or unlucky caller does to the SDK: callbacks that throw,
 * calls after close, options of the wrong shape, names and keys past the
 * limits, values structured clone would not copy faithfully. Each gets a
 * coded error or a documented behaviour, never a hang or a stuck client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, task, type Client } from '@corepool/client';
import { type TestDaemon, useDaemon } from './support/daemon.js';
import { startApp } from './apps/spawn-app.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

describe('user callbacks that throw', () => {
  it('surface as uncaught exceptions while the client keeps answering (no reply in the same frame is lost)', async () => {
    await using app = startApp(d, 'throwing-callbacks.mjs', { name: 'throwing-cb' });
    const r = await app.done();
    expect(r.adds).toBe(20);
    expect(r.value).toBe(21);
    expect(r.after).toBe(21);
    expect(r.mapped).toEqual([2, 4, 6, 8, 10, 12]);
    expect(r.dictKeys).toEqual(['a', 'b']);
    expect(r.calls as number).toBeGreaterThan(1);
    // Every subscriber call, dict push and progress report threw: each one was reported, none was swallowed.
    expect(r.uncaught as number).toBeGreaterThanOrEqual((r.calls as number) + 2 + 6);
  });
});

describe('after close', () => {
  it('watch() ends with E_CLOSED and subscribe() calls onEnd instead of waiting forever', async () => {
    const c = await connect(d.url, { token: d.token });
    await c.close();
    const it1 = c.value('closed-watch').watch();
    await expect(it1.next()).rejects.toMatchObject({ code: 'E_CLOSED' });
    const ended = await new Promise<Error>((resolve) => c.dict('closed-dict').subscribe(() => {}, resolve));
    expect((ended as { code?: string }).code).toBe('E_CLOSED');
    await expect(c.value('closed-watch').get()).rejects.toMatchObject({ code: 'E_CLOSED' });
  });
});

describe('options of the wrong shape', () => {
  it('queue.get, lock.acquire and withLock reject with E_BAD_ARGUMENT instead of waiting forever', async () => {
    await expect(client.queue('bad-opts').get(5 as never)).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    await expect(client.lock('bad-opts').acquire('x' as never)).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    await expect(client.lock('bad-opts').withLock(5 as never)).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    // The lock was never taken.
    await expect(client.lock('bad-opts').acquire({ timeoutMs: 0 })).resolves.toMatchObject({ token: expect.any(Number) });
  });

  it('a connect name over the limit is E_BAD_ARGUMENT; the default name of a deep script path fits', async () => {
    await expect(connect(d.url, { token: d.token, name: 'n'.repeat(300) })).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    const argv1 = process.argv[1]!;
    process.argv[1] = `/${'deep/'.repeat(80)}app.mjs`;
    try {
      const c = await connect(d.url, { token: d.token });
      const me = (await c.status()).clients.find((x) => x.name.endsWith(`app.mjs#${process.pid}`));
      expect(me).toBeDefined();
      await c.close();
    } finally {
      process.argv[1] = argv1;
    }
  });
});

describe('requests the daemon refuses while parsing them', () => {
  it('a dict key or a task export name past the limits settles with a coded error', async () => {
    await expect(client.dict('long-key').set('k'.repeat(70_000), 1)).rejects.toMatchObject({ code: 'E_BAD_NAME' });
    await expect(client.dict('long-key').get('é'.repeat(513))).rejects.toMatchObject({ code: 'E_BAD_NAME' });
    await expect(client.dict('long-key').set('', 1)).resolves.toBeUndefined();
    // task() checks its arguments at once, as it does their types.
    expect(() => task('./nowhere.mjs', 'x'.repeat(300))).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
    expect(() => task(`/tmp/${'a'.repeat(5000)}.mjs`, 'x')).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
    // A hand-made spec past the daemon's limits is answered too, not left waiting.
    const spec = { kind: 'module', url: `file:///tmp/${'a'.repeat(5000)}.mjs`, name: 'x' };
    await expect(client.map(spec as never, [1])).rejects.toMatchObject({ code: 'E_BAD_MESSAGE' });
    await expect(client.value('still-fine').set(1)).resolves.toBeUndefined();
  });
});

describe('values structured clone would not carry faithfully', () => {
  it('are refused with E_NOT_CLONEABLE as items, as results and as shared values', async () => {
    function* gen(): Generator<number> {
      yield 1;
    }
    const bad: [string, unknown][] = [
      ['Generator', gen()],
      ['Proxy', new Proxy({ a: 1 }, {})],
      ['SharedArrayBuffer', new SharedArrayBuffer(8)],
      ['Blob', new Blob(['x'])],
      ['URL', new URL('http://example.com/')],
      ['Number', Object(5)],
      ['__proto__', JSON.parse('{"__proto__": 1, "a": 2}')],
      // msgpack wrote a Map subclass as {} and a typed array subclass as bytes nothing could read back.
      ['subclass of Map', new (class Registry extends Map<number, number> {})([[1, 2]])],
      ['subclass of Uint8Array', new (class Bytes extends Uint8Array {})(4)],
    ];
    for (const [what, v] of bad) {
      const err = await client.map((x: unknown) => x, [v]).catch((e: unknown) => e);
      expect((err as { code?: string }).code, what).toBe('E_NOT_CLONEABLE');
      expect((err as Error).message, what).toContain(what);
      await expect(client.value('not-cloneable').set(v), what).rejects.toMatchObject({ code: 'E_NOT_CLONEABLE' });
    }
    // A task returning a generator (a function* task) fails that item, not silently with {}.
    const settled = await client.mapSettled(
      function* (x: number) {
        yield x;
      },
      [1],
    );
    expect(settled[0]).toMatchObject({ status: 'rejected', reason: { code: 'E_NOT_CLONEABLE' } });
    // Class instances, Errors and null-prototype objects still travel, as structured clone copies them.
    const ok = await client.map(
      (x: unknown) => x,
      [
        new (class A {
          x = 1;
        })(),
        Object.assign(Object.create(null), { y: 2 }),
      ],
    );
    expect(ok).toEqual([{ x: 1 }, { y: 2 }]);
  });

  it('a string with a lone surrogate is refused (E_NOT_CLONEABLE, E_BAD_NAME), never turned into U+FFFD', async () => {
    const err = await client.map((x: unknown) => x, ['fine', { s: 'x\ud800y' }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_NOT_CLONEABLE', index: 1 });
    expect((err as Error).message).toMatch(/item 1 cannot be sent: item\.s is a string with a lone surrogate/);
    const settled = await client.mapSettled((x: number) => (x === 1 ? `half \udc00` : 'whole \ud83d\ude00'), [0, 1]);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: 'whole \ud83d\ude00' });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: 'E_NOT_CLONEABLE' } });
    await expect(client.value('surrogates').set('\ud800')).rejects.toMatchObject({ code: 'E_NOT_CLONEABLE' });
    // A name or key that UTF-8 would make into another one.
    await expect(client.value('name\udfff').get()).rejects.toMatchObject({ code: 'E_BAD_NAME' });
    await expect(client.dict('surrogates').set('k\udc00', 1)).rejects.toMatchObject({ code: 'E_BAD_NAME' });
  });

  it("an Error travels with its class, message and own stack (not the decoder's), as an item, a result and a value", async () => {
    const [back] = await client.map(
      (e: Error) => {
        const out = new RangeError(`seen ${e.name}: ${e.message}`);
        out.stack = `RangeError: from the task\n    at TASK_FRAME\n${e.stack ?? ''}`;
        return out;
      },
      [Object.assign(new TypeError('sent'), { stack: 'TypeError: sent\n    at APP_FRAME' })],
    );
    expect(back).toBeInstanceOf(RangeError);
    expect((back as Error).message).toBe('seen TypeError: sent');
    expect((back as Error).stack).toBe('RangeError: from the task\n    at TASK_FRAME\nTypeError: sent\n    at APP_FRAME');
    expect(Object.hasOwn(back as Error, 'cause')).toBe(false);
    const v = client.value<Error>('an-error');
    await v.set(Object.assign(new Error('kept'), { stack: 'Error: kept\n    at VALUE_FRAME' }));
    expect((await v.get()).stack).toBe('Error: kept\n    at VALUE_FRAME');
  });

  it('a class is not a task: E_BAD_TASK', async () => {
    class NotATask {}
    await expect(client.map(NotATask as never, [1])).rejects.toMatchObject({ code: 'E_BAD_TASK' });
  });
});

describe('connect with nothing to connect to', () => {
  it('a data dir no daemon ever ran on is E_CONNECTION saying how to start one, not a missing token', async () => {
    const saved = { url: process.env.COREPOOL_URL, token: process.env.COREPOOL_TOKEN };
    delete process.env.COREPOOL_URL;
    delete process.env.COREPOOL_TOKEN;
    const empty = mkdtempSync(join(tmpdir(), 'corepool-none-'));
    try {
      await expect(connect({ dataDir: empty })).rejects.toMatchObject({
        code: 'E_CONNECTION',
        message: expect.stringMatching(/no daemon runs on .*corepool daemon start/),
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
      if (saved.url !== undefined) process.env.COREPOOL_URL = saved.url;
      if (saved.token !== undefined) process.env.COREPOOL_TOKEN = saved.token;
    }
  });
});

describe('items that change or misbehave while a batch reads them', () => {
  it('an array emptied or refilled before its map settles fails it with E_BAD_ARGUMENT, never a short or wrong result', async () => {
    const batch = Array.from({ length: 5000 }, (_, i) => i);
    const running = client.map((x: number) => x, batch, { chunkSize: 10 });
    batch.length = 0; // reused for the next batch, as a buffer is
    await expect(running).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT', message: expect.stringMatching(/changed length/) });
    // A copy passed instead runs whole.
    const kept = Array.from({ length: 5000 }, (_, i) => i);
    const copy = client.map((x: number) => x, kept.slice(), { chunkSize: 10 });
    kept.length = 0;
    expect(await copy).toHaveLength(5000);
  });

  it('an iterator whose next() returns a bare value fails the batch with E_BAD_ARGUMENT instead of running undefined for ever', async () => {
    const bare = { [Symbol.iterator]: () => ({ next: () => 5 }) } as unknown as Iterable<number>;
    await expect(client.map((x: unknown) => x, bare)).rejects.toMatchObject({
      code: 'E_BAD_ARGUMENT',
      message: expect.stringMatching(/returned 5/),
    });
    const bareAsync = { [Symbol.asyncIterator]: () => ({ next: async () => 5 }) } as unknown as AsyncIterable<number>;
    await expect(client.map((x: unknown) => x, bareAsync)).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
    // The client goes on.
    expect(await client.map((x: number) => x + 1, [1])).toEqual([2]);
  });
});

describe('batches cancelled while their input is read', () => {
  it('256 maps over inputs that never yield, each cancelled, leave the client able to run a map (no chunk slot kept); another client untouched', async () => {
    const c = await d.connect();
    const never = (): AsyncIterable<number> => ({
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<number>>(() => {}) }),
    });
    // The client's 256 chunk slots, each held by a read that never ends.
    const stops = Array.from({ length: 256 }, () => new AbortController());
    const stuck = stops.map((s) => c.map((x: number) => x, never(), { signal: s.signal }).catch((e: { code?: string }) => e.code));
    for (const s of stops) s.abort();
    expect(new Set(await Promise.all(stuck))).toEqual(new Set(['E_CANCELLED']));
    expect(await c.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
    expect(await client.map((x: number) => x + 1, [1])).toEqual([2]);
    await c.close();
  });
});
