/**
 * What a batch must pass to open: its task's hash names its source (a client
 * cannot register its own code under another client's hash, nor run a hash
 * the daemon never verified), and a client has at most MAX_OPEN_BATCHES
 * batches open. Raw sockets play the hostile client; an SDK client beside it
 * keeps working.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { MAX_OPEN_BATCHES, decodeData, encodeData } from '@corepool/protocol/internal';
import { sourceHash } from '@corepool/protocol';
import { type TestDaemon, useDaemon } from './support/daemon.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x), { workers: 1 });

/** The values of a chunk.result (anything else: the message itself, to fail the comparison visibly). */
function values(m: Record<string, unknown>): unknown {
  return m.type === 'chunk.result' ? decodeData(m.payload as Uint8Array) : m;
}

describe('task hashes', () => {
  it("a source sent under another function's hash is refused (E_BAD_TASK), and that function still runs its own code", async () => {
    const double = (x: number): number => x * 2;
    const hash = sourceHash(Function.prototype.toString.call(double));
    const evil = await d.raw({ hello: true });
    // The attacker goes first, so a worker that trusted the hash would compile its source under the victim's hash.
    evil.send({ type: 'batch.open', id: 1, task: { kind: 'source', hash, source: '(x) => "pwned"' }, timeoutMs: 0, retries: 0 });
    evil.send({ type: 'batch.chunk', id: 1, start: 0, count: 1, payload: encodeData([1]), final: true });
    expect(await evil.next((m) => m.id === 1 && (m.type === 'batch.error' || m.type === 'chunk.result'))).toMatchObject({
      type: 'batch.error',
      error: { code: 'E_BAD_TASK' },
    });
    // A hash alone that the daemon never saw verified is refused too.
    const unknown = sourceHash('(x) => "never sent"');
    evil.send({ type: 'batch.open', id: 2, task: { kind: 'source', hash: unknown, source: '' }, timeoutMs: 0, retries: 0 });
    expect(await evil.next((m) => m.id === 2 && m.type === 'batch.error')).toMatchObject({ error: { code: 'E_BAD_TASK' } });
    expect(await client.map(double, [1, 2, 3])).toEqual([2, 4, 6]);
    // Once verified, the hash alone names the victim's own code: nothing else can be reached through it.
    evil.send({ type: 'batch.open', id: 3, task: { kind: 'source', hash, source: '' }, timeoutMs: 0, retries: 0 });
    evil.send({ type: 'batch.chunk', id: 3, start: 0, count: 1, payload: encodeData([21]), final: true });
    expect(values(await evil.next((m) => m.id === 3 && (m.type === 'batch.error' || m.type === 'chunk.result')))).toEqual([42]);
    evil.ws.close();
  }, 60_000);
});

describe('open batches per client', () => {
  it(`the batch past ${MAX_OPEN_BATCHES} open ones gets E_LIMIT; finishing one makes room; another client is unaffected`, async () => {
    const sock = await d.raw({ hello: true });
    const source = '(x) => x + 1';
    const task = { kind: 'source', hash: sourceHash(source), source };
    for (let id = 1; id <= MAX_OPEN_BATCHES; id++) sock.send({ type: 'batch.open', id, task, timeoutMs: 0, retries: 0 });
    sock.send({ type: 'batch.open', id: MAX_OPEN_BATCHES + 1, task, timeoutMs: 0, retries: 0 });
    expect(await sock.next((m) => m.type === 'batch.error')).toMatchObject({ id: MAX_OPEN_BATCHES + 1, error: { code: 'E_LIMIT' } });
    expect(await client.map((x: number) => x * 10, [1, 2])).toEqual([10, 20]);
    // Batch 1 finishes (its last chunk is done): its place is free again.
    sock.send({ type: 'batch.chunk', id: 1, start: 0, count: 1, payload: encodeData([1]), final: true });
    expect(values(await sock.next((m) => m.type === 'chunk.result' && m.id === 1))).toEqual([2]);
    sock.send({
      type: 'batch.open',
      id: MAX_OPEN_BATCHES + 2,
      task,
      timeoutMs: 0,
      retries: 0,
      first: { start: 0, count: 1, payload: encodeData([5]), final: true },
    });
    expect(values(await sock.next((m) => m.id === MAX_OPEN_BATCHES + 2))).toEqual([6]);
    // Only the one batch over the limit was refused.
    expect(sock.messages.filter((m) => m.type === 'batch.error')).toHaveLength(1);
    sock.ws.close();
  }, 60_000);

  it(`through the SDK, the batch past ${MAX_OPEN_BATCHES} in progress is refused by the client at once, not after the others got their chunks through`, async () => {
    // Most of these wait for one of the client's chunk slots; one more used to wait behind all of
    // them (20 s behind 1,024 unread imaps) only to be refused by the daemon when it opened.
    const c = await d.connect();
    const stop = new AbortController();
    const nap = async (x: number): Promise<number> => {
      await new Promise((r) => setTimeout(r, 100));
      return x;
    };
    const held = Array.from({ length: MAX_OPEN_BATCHES }, (_, i) =>
      c.submit(nap, i, { signal: stop.signal }).catch((e: { code?: string }) => e.code),
    );
    const refused = await c.submit((x: number) => x, 1).catch((e: Error & { code?: string }) => e);
    expect(refused).toMatchObject({ code: 'E_LIMIT' });
    // The SDK's own refusal: the daemon never saw this batch.
    expect((refused as Error).message).toMatch(/this client has 1024 batches in progress/);
    stop.abort();
    // Each cancelled, or done with its own value if it ran before the abort.
    const outcomes = await Promise.all(held);
    expect(outcomes.filter((o, i) => o !== 'E_CANCELLED' && o !== i)).toEqual([]);
    // Room again, and the other client was never held up by any of it.
    expect(await c.submit((x: number) => x + 1, 1)).toBe(2);
    expect(await client.map((x: number) => x * 10, [1, 2])).toEqual([10, 20]);
    await c.close();
  }, 60_000);
});
