/** The callback-to-loop bridge of imap and Value.watch: queued values first, then the end or its error. */
import { describe, expect, it } from 'vitest';
import { QueuedIterator } from '../src/queued-iterator.js';

async function drain<T>(q: AsyncIterable<T>): Promise<{ seen: T[]; error?: unknown }> {
  const seen: T[] = [];
  try {
    for await (const v of q) seen.push(v);
  } catch (error) {
    return { seen, error };
  }
  return { seen };
}

describe('QueuedIterator', () => {
  it('delivers every value in order, waiting while none is queued, then ends', async () => {
    const q = new QueuedIterator<number>();
    q.push(1);
    const out = drain(q);
    await Promise.resolve();
    q.push(2);
    q.push(3);
    expect(q.ended).toBe(false);
    q.end();
    q.push(4);
    expect(await out).toEqual({ seen: [1, 2, 3] });
    expect(q.ended).toBe(true);
  });

  it('delivers what was queued before an error end, then throws it', async () => {
    const q = new QueuedIterator<string>();
    q.push('a');
    q.end(new Error('gone'));
    const { seen, error } = await drain(q);
    expect(seen).toEqual(['a']);
    expect(error).toEqual(new Error('gone'));
  });

  it('an end that drops: what was queued is not delivered, the error comes next', async () => {
    const q = new QueuedIterator<string>();
    q.push('a');
    q.push('b');
    q.end(new Error('cancelled'), true);
    const { seen, error } = await drain(q);
    expect(seen).toEqual([]);
    expect(error).toEqual(new Error('cancelled'));
  });

  it('latestOnly keeps only the newest value for a slow consumer', async () => {
    const q = new QueuedIterator<number>({ latestOnly: true });
    q.push(1);
    q.push(2);
    q.push(3);
    expect(q.length).toBe(1);
    q.end(new Error('closed'));
    expect((await drain(q)).seen).toEqual([3]);
  });

  it('a consumer that breaks out leaves the producer not ended and drops later values', async () => {
    const q = new QueuedIterator<number>();
    q.push(1);
    q.push(2);
    for await (const v of q) {
      expect(v).toBe(1);
      break;
    }
    expect(q.ended).toBe(false);
    q.push(3);
    expect(q.length).toBe(0);
    expect(await q.next()).toEqual({ done: true, value: undefined });
  });

  it('keeps order across a long queue taken from the front', async () => {
    const q = new QueuedIterator<number>();
    const n = 5000;
    for (let i = 0; i < n; i++) q.push(i);
    const seen: number[] = [];
    for await (const v of q) {
      seen.push(v);
      if (v % 1000 === 0) q.push(n + v / 1000);
      if (seen.length === n + 5) break;
    }
    expect(seen.slice(0, n)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(seen.slice(n)).toEqual([n, n + 1, n + 2, n + 3, n + 4]);
  });
});
