/**
 * BatchCall against a fake host (no daemon, no socket), as ws tests its Receiver:
 * the client's chunk slots must balance whatever path a chunk takes.
 */
import { describe, expect, it } from 'vitest';
import { ShuttingDownError, encodeData, type ClientMessage, type TaskSpec } from '@corepool/protocol';
import { BatchCall, type BatchHost } from '../src/batch-call.js';
import { CallerStack } from '../src/caller-stack.js';

/** A host with `max` chunk slots that counts what batches take and give back. */
function fakeHost(max: number, maxPayload: number, failsOver = false): BatchHost & { slots: number; sent: ClientMessage[] } {
  const host = {
    failsOver,
    slots: 0,
    sent: [] as ClientMessage[],
    bytes: 0,
    workers: 1,
    maxPayload,
    send(m: ClientMessage): boolean {
      host.sent.push(m);
      return true;
    },
    acquireSlot(_b: BatchCall, force?: boolean): boolean {
      if (host.slots >= max && force !== true) return false;
      host.slots++;
      return true;
    },
    releaseSlot(): void {
      host.slots--;
    },
    admitBytes(_b: BatchCall, bytes: number): boolean {
      host.bytes += bytes;
      return true;
    },
    releaseBytes(bytes: number): void {
      host.bytes -= bytes;
    },
    forget(): void {},
    wireTask: (spec: TaskSpec) => spec,
  };
  return host;
}

describe('BatchCall chunk slots', () => {
  it('a chunk split to fit the frame limit holds a slot per part: cancelled, the count returns to 0, never below', async () => {
    const host = fakeHost(1, 64);
    const ended: unknown[] = [];
    const items = Array.from({ length: 8 }, (_, i) => `item-${i}-${'x'.repeat(20)}`);
    const b = new BatchCall(
      host,
      1,
      { kind: 'source', hash: 'h', source: '(x) => x' },
      items,
      { timeoutMs: 0, retries: 0, priority: 0, chunkSize: 8, onProgress: undefined },
      {
        item: () => {},
        end: (e) => ended.push(e),
        wantsMore: () => true,
      },
      new CallerStack(fakeHost),
    );
    b.pump();
    await new Promise((r) => setTimeout(r, 20));
    // Every part in flight holds a slot (the limit may be passed by the parts of one split chunk).
    const chunks = host.sent.filter((m) => m.type === 'batch.chunk' || (m.type === 'batch.open' && m.first !== undefined)).length;
    expect(chunks).toBeGreaterThan(1);
    expect(host.slots).toBe(chunks);
    b.cancel(new Error('stop'));
    expect(host.slots).toBe(0);
    expect(ended).toHaveLength(1);
  });
});

describe('BatchCall chunk slots while the input is read', () => {
  /** oneByOne over `items` on a host of 4 slots, pumped for 10 ms. */
  async function pumped(
    items: Iterable<number> | AsyncIterable<number>,
  ): Promise<ReturnType<typeof oneByOne> & { host: ReturnType<typeof fakeHost> }> {
    const host = fakeHost(4, 1 << 20);
    const batch = oneByOne(host, items);
    batch.b.pump();
    await new Promise((r) => setTimeout(r, 10));
    return { ...batch, host };
  }

  it('a batch cancelled while its input never yields gives back the slot its read holds', async () => {
    const { b, host, ended } = await pumped({
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<number>>(() => {}) }),
    });
    expect(host.slots).toBe(1);
    b.cancel(new Error('stop'));
    expect(host.slots).toBe(0);
    expect(ended).toHaveLength(1);
  });

  it('an input whose iterator cannot even be made ends the batch with its error and gives back no slot it did not take', async () => {
    const { host, ended } = await pumped({
      [Symbol.iterator]: (): Iterator<number> => {
        throw new Error('no iterator');
      },
    });
    expect(ended).toEqual([new Error('no iterator')]);
    expect(host.slots).toBe(0);
  });
});

/** A batch of `items` in chunks of one, recording what its sink hears. */
function oneByOne(
  host: BatchHost,
  items: Iterable<number> | AsyncIterable<number>,
): { b: BatchCall; delivered: number[]; ended: unknown[] } {
  const delivered: number[] = [];
  const ended: unknown[] = [];
  const b = new BatchCall(
    host,
    1,
    { kind: 'source', hash: 'h', source: '(x) => x' },
    items,
    { timeoutMs: 0, retries: 0, priority: 0, chunkSize: 1, onProgress: undefined },
    { item: (i) => delivered.push(i), end: (e) => ended.push(e), wantsMore: () => true },
    new CallerStack(oneByOne),
  );
  return { b, delivered, ended };
}

/** The result of the one-item chunk at `start`. */
function result(start: number, value: number): Parameters<BatchCall['onResult']>[0] {
  return { type: 'chunk.result', id: 1, start, count: 1, payload: encodeData([value]), errors: [], ms: 0 };
}

/** The starts of the chunks in `sent` (an open's first chunk included). */
function starts(sent: ClientMessage[]): number[] {
  return sent.flatMap((m) => (m.type === 'batch.chunk' ? [m.start] : m.type === 'batch.open' && m.first ? [m.first.start] : []));
}

describe('BatchCall across a move to another daemon', () => {
  it('reopens with the chunks still without results; one done before the move is not resent, and the batch is closed at the end', async () => {
    const host = fakeHost(100, 1 << 20);
    const { b, delivered, ended } = oneByOne(host, [10, 11, 12]);
    b.pump();
    await new Promise((r) => setTimeout(r, 10));
    expect(starts(host.sent)).toEqual([0, 1, 2]);
    // The final chunk (start 2) is answered before the link drops; the others are not.
    b.onResult(result(2, 12));
    host.sent.length = 0;
    b.resume();
    expect(host.sent[0]).toMatchObject({ type: 'batch.open', first: { start: 0 } });
    expect(starts(host.sent)).toEqual([0, 1]);
    b.onResult(result(0, 10));
    b.onResult(result(0, 10)); // a duplicate from the resend is dropped
    b.onResult(result(1, 11));
    expect(delivered).toEqual([2, 0, 1]);
    expect(ended).toEqual([undefined]);
    // The new daemon never saw the final chunk: it is told the batch is over.
    expect(host.sent.at(-1)).toEqual({ type: 'batch.close', id: 1 });
  });

  it('a stopping daemon refusing the batch (E_SHUTTING_DOWN) ends it with one daemon, and holds it for the next with a list', async () => {
    const refused = new ShuttingDownError('stopping');
    const single = oneByOne(fakeHost(100, 1 << 20), [1]);
    single.b.pump();
    await new Promise((r) => setTimeout(r, 10));
    single.b.onBatchError(refused);
    expect(single.ended).toEqual([refused]);

    const host = fakeHost(100, 1 << 20, true);
    const listed = oneByOne(host, [1]);
    listed.b.pump();
    await new Promise((r) => setTimeout(r, 10));
    listed.b.onBatchError(refused);
    expect(listed.ended).toEqual([]);
    host.sent.length = 0;
    listed.b.resume();
    expect(host.sent).toEqual([expect.objectContaining({ type: 'batch.open', first: expect.objectContaining({ start: 0 }) })]);
    listed.b.onResult(result(0, 1));
    expect(listed.ended).toEqual([undefined]);
  });
});
