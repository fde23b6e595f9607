/**
 * A task's source crosses a client's connection once: the SDK sends it with the
 * first batch of that function on a socket and its hash alone afterwards, and
 * the daemon keeps what each connection sent (Welcome.sourcesByHash). Measured
 * on the wire (a proxy counts what the client sends), and attacked: a hash a
 * connection never sent, a hash that does not match the source sent with it, a
 * reconnect (a new socket starts with nothing known), a source too long to keep,
 * and a second app flooding its own connection with sources beside the first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Client } from '@corepool/client';
import { MAX_KEPT_SOURCE_CHARS, encodeData, sourceHash } from '@corepool/protocol/internal';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import { startProxy, type TcpProxy } from './support/tcp-proxy.js';
import type { RawSocket } from './support/raw-socket.js';

let d: TestDaemon;
let proxy: TcpProxy;
beforeAll(async () => {
  d = await startDaemon({ workers: 2 });
  proxy = await startProxy(d.port, 'ws');
});
afterAll(async () => {
  await proxy?.close();
  await d?.[Symbol.asyncDispose]();
});

/** A self-contained task whose source is about `chars` long: `result` (default `x * 2`) after a run of string constants. */
function bigTask(chars: number, tag: string, result = 'x * 2'): (x: number) => number {
  const lines = Math.ceil(chars / 60);
  const body = Array.from({ length: lines }, (_, i) => `  const v${i} = '${tag}-${String(i).padStart(40, '0')}';`).join('\n');
  return new Function('x', `${body}\n  return ${result};`) as (x: number) => number;
}

/** The SDK's client through the counting proxy. */
function viaProxy(name: string): Promise<Client> {
  return connect(`ws://127.0.0.1:${proxy.port}`, { token: d.token, name, reconnectTimeoutMs: 30_000 });
}

/** The batch.error or first chunk.result of batch `id` on a raw socket. */
function outcome(sock: RawSocket, id: number): Promise<Record<string, unknown>> {
  return sock.next((m) => (m.type === 'batch.error' || m.type === 'chunk.result') && m.id === id, 20_000);
}

/** Opens batch `id` of one item on a raw socket, with the source or (source '') its hash alone. */
function openOne(sock: RawSocket, id: number, hash: string, source: string): void {
  sock.send({
    type: 'batch.open',
    id,
    task: { kind: 'source', hash, source },
    timeoutMs: 0,
    retries: 0,
    first: { type: 'batch.chunk', id, start: 0, count: 1, payload: encodeData([21]), final: true },
  });
}

describe('task sources by hash', () => {
  it('a function submitted 40 times crosses the socket once, and again once on a new socket', async () => {
    const fn = bigTask(40_000, 'once');
    const source = fn.toString();
    expect(source.length).toBeLessThan(MAX_KEPT_SOURCE_CHARS);
    const c = await viaProxy('by-hash');
    try {
      const before = proxy.bytesUp;
      for (let i = 0; i < 40; i++) expect(await c.submit(fn, i)).toBe(i * 2);
      expect(await c.map(fn, [1, 2, 3])).toEqual([2, 4, 6]);
      const sent = proxy.bytesUp - before;
      // Once whole (~40 KB), then ~100 bytes a submit: not 41 copies (1.6 MB).
      expect(sent).toBeGreaterThan(source.length);
      expect(sent).toBeLessThan(2 * source.length);

      // The link drops: the daemon forgets what that socket sent, the SDK sends the source again.
      const reconnected = new Promise<void>((resolve) => c.on('reconnected', () => resolve()));
      proxy.set('reset');
      proxy.set('pass');
      await reconnected;
      const again = proxy.bytesUp;
      for (let i = 0; i < 10; i++) expect(await c.submit(fn, i)).toBe(i * 2);
      const resent = proxy.bytesUp - again;
      expect(resent).toBeGreaterThan(source.length);
      expect(resent).toBeLessThan(2 * source.length);
    } finally {
      await c.close();
    }
  }, 120_000);

  it('a source too long to keep travels whole every time, and its batches run', async () => {
    const fn = bigTask(MAX_KEPT_SOURCE_CHARS + 20_000, 'long');
    const length = fn.toString().length;
    expect(length).toBeGreaterThan(MAX_KEPT_SOURCE_CHARS);
    const c = await viaProxy('long-source');
    try {
      const before = proxy.bytesUp;
      for (let i = 0; i < 3; i++) expect(await c.submit(fn, i)).toBe(i * 2);
      expect(proxy.bytesUp - before).toBeGreaterThan(3 * length);
      // A small function beside it still goes by hash after its first batch.
      const small = bigTask(5_000, 'small');
      const mid = proxy.bytesUp;
      for (let i = 0; i < 20; i++) expect(await c.submit(small, i)).toBe(i * 2);
      expect(proxy.bytesUp - mid).toBeLessThan(2 * small.toString().length);
    } finally {
      await c.close();
    }
  }, 120_000);

  it('a batch the daemon refuses before it reads the task costs no later batch of that function', async () => {
    const fn = bigTask(3_000, 'refused');
    const c = await viaProxy('refused');
    try {
      // Valid when the SDK checks it, invalid when the open is built: the daemon's parser refuses the
      // open, and with it the source the SDK counted as sent (any difference between the SDK's checks
      // and the daemon's would do the same).
      const options = {
        get retries(): number {
          return new Error().stack?.includes('checkMapOptions') === true ? 1 : -1;
        },
      };
      await expect(c.map(fn, [1], options)).rejects.toMatchObject({ code: 'E_BAD_MESSAGE' });
      for (let i = 0; i < 5; i++) expect(await c.submit(fn, i)).toBe(i * 2);
    } finally {
      await c.close();
    }
  }, 60_000);

  it('a function whose source holds a lone surrogate fails as it did, the same way every time', async () => {
    const fn = new Function('x', "return '\uD800'.length + x;") as (x: number) => number;
    const c = await viaProxy('surrogate');
    try {
      for (let i = 0; i < 3; i++) {
        await expect(c.submit(fn, i)).rejects.toMatchObject({ code: 'E_BAD_TASK', message: expect.stringContaining('does not match') });
      }
    } finally {
      await c.close();
    }
  }, 60_000);

  it('a connection names by hash only what it sent, and only a hash that matches its source', async () => {
    const source = '(x) => x * 2';
    const hash = sourceHash(source);
    const forged = sourceHash('(x) => x * 3');
    const sock = await d.raw({ hello: true });
    try {
      const welcome = sock.messages.find((m) => m.type === 'welcome');
      expect(welcome?.sourcesByHash).toBe(true);
      // Never sent here, never seen by the daemon: refused with a code, the connection stays.
      openOne(sock, 1, sourceHash('(x) => x * 5'), '');
      const unknown = await outcome(sock, 1);
      expect(unknown.type).toBe('batch.error');
      expect((unknown.error as { code: string }).code).toBe('E_BAD_TASK');
      // A source under another function's hash: refused whole and refused by that hash after.
      openOne(sock, 2, forged, source);
      expect(((await outcome(sock, 2)).error as { code: string }).code).toBe('E_BAD_TASK');
      openOne(sock, 3, forged, '');
      expect(((await outcome(sock, 3)).error as { code: string }).code).toBe('E_BAD_TASK');
      // Sent whole once, then by hash alone: both run.
      openOne(sock, 4, hash, source);
      expect((await outcome(sock, 4)).type).toBe('chunk.result');
      openOne(sock, 5, hash, '');
      const byHash = await outcome(sock, 5);
      expect(byHash.type).toBe('chunk.result');
      expect(byHash.errors).toEqual([]);
    } finally {
      sock.ws.close();
    }
  }, 60_000);

  it('an app flooding its connection with sources does not cost another app its own', async () => {
    const hostile = await d.raw({ hello: true });
    const c = await viaProxy('steady');
    try {
      const fn = bigTask(30_000, 'steady');
      const source = fn.toString();
      expect(await c.submit(fn, 1)).toBe(2);
      // 40 distinct 500 KB sources: 20 M characters, past what the daemon keeps of verified sources
      // for all connections (16 Mi), so the steady app's is gone from there; and hashes never sent.
      for (let i = 0; i < 40; i++) {
        const s = bigTask(500_000, `flood${i}`).toString();
        openOne(hostile, 100 + i, sourceHash(s), s);
        openOne(hostile, 1000 + i, sourceHash(`${s} `), '');
      }
      await hostile.next((m) => m.type === 'batch.error' && m.id === 1039, 60_000);
      const before = proxy.bytesUp;
      for (let i = 0; i < 30; i++) expect(await c.submit(fn, i)).toBe(i * 2);
      // The steady app's source stayed known on its own connection: sent by hash all along.
      expect(proxy.bytesUp - before).toBeLessThan(source.length);
      // The flood was answered, every batch: the hash-only ones with E_BAD_TASK.
      const refused = hostile.messages.filter((m) => m.type === 'batch.error' && (m.id as number) >= 1000);
      expect(refused.length).toBe(40);
      expect(new Set(refused.map((m) => (m.error as { code: string }).code))).toEqual(new Set(['E_BAD_TASK']));
    } finally {
      hostile.ws.close();
      await c.close();
    }
  }, 120_000);
});

describe('a source and its first chunk against a small frame limit', () => {
  it('a source that fits with no chunk beside it goes alone; one that fits in no frame fails with E_TOO_LARGE, not a reconnect loop', async () => {
    await using small = await startDaemon({ workers: 1, args: ['--max-payload', String(128 * 1024)] });
    const c = await small.connect({ reconnectTimeoutMs: 5_000 });
    // ~40 KB of source and a 40 KB item: under the limit apart, over it in one frame.
    const echo = bigTask(40_000, 'apart', 'x.length') as unknown as (x: string) => number;
    const item = 'i'.repeat(40_000);
    expect(await c.submit(echo, item)).toBe(40_000);
    expect(await c.submit(echo, item)).toBe(40_000);
    let reconnects = 0;
    c.on('reconnected', () => reconnects++);
    const huge = bigTask(100_000, 'huge');
    await expect(c.submit(huge, 1)).rejects.toMatchObject({ code: 'E_TOO_LARGE' });
    expect(await c.submit((x: number) => x + 1, 1)).toBe(2);
    expect(reconnects).toBe(0);
    await c.close();
  }, 60_000);
});
