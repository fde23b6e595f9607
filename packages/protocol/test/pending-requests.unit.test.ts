/** The request table both transports use: ids in order, replies settle by id, the oldest unanswered is known. */
import { describe, expect, it } from 'vitest';
import { TimeoutError } from '../src/errors.js';
import { PendingRequests } from '../src/pending-requests.js';

describe('PendingRequests', () => {
  it('numbers requests from 1, settles each by its id, and ignores a reply to no pending request', async () => {
    const table = new PendingRequests<string>();
    const sent: number[] = [];
    const a = table.add('a', (rid) => sent.push(rid) > 0);
    const b = table.add('b', (rid) => sent.push(rid) > 0);
    expect(sent).toEqual([1, 2]);
    table.settle(2, { ok: true, value: 'B' });
    table.settle(2, { ok: true, value: 'again' });
    table.settle(99, { ok: true, value: 'stale' });
    table.settle(1, { ok: false, error: { code: 'E_TIMEOUT', message: 'late', timeoutMs: 5 } });
    expect(await b).toBe('B');
    const err = await a.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ code: 'E_TIMEOUT', message: 'late', timeoutMs: 5 });
  });

  it('knows the oldest unanswered id and whether each request left', () => {
    const table = new PendingRequests<string>();
    expect(table.oldest()).toBeUndefined();
    let oldestWhenSent: number | undefined;
    void table.add('a', () => {
      oldestWhenSent = table.oldest();
      return false;
    });
    void table.add('b', () => true);
    expect(oldestWhenSent).toBe(1);
    expect([...table.entries()].map(([rid, p]) => [rid, p.msg, p.sent])).toEqual([
      [1, 'a', false],
      [2, 'b', true],
    ]);
    table.settle(1, { ok: true });
    expect(table.oldest()).toBe(2);
  });

  it('keeps the oldest right whatever order replies come in, and after the table empties', async () => {
    const table = new PendingRequests<string>();
    const all = ['a', 'b', 'c', 'd'].map((m) => table.add(m, () => true));
    const oldest: (number | undefined)[] = [table.oldest()];
    for (const rid of [3, 1, 2]) {
      table.settle(rid, { ok: true });
      oldest.push(table.oldest());
    }
    table.reject(4, new Error('lost'));
    oldest.push(table.oldest());
    const later = [
      table.add('e', () => {
        oldest.push(table.oldest());
        return true;
      }),
      table.add('f', () => true),
    ];
    table.settle(5, { ok: true });
    oldest.push(table.oldest());
    table.rejectAll(new Error('closed'));
    oldest.push(table.oldest());
    void table.add('g', () => true).catch(() => {});
    oldest.push(table.oldest());
    expect(oldest).toEqual([1, 1, 2, 4, undefined, 5, 6, undefined, 7]);
    await Promise.allSettled([...all, ...later]);
  });

  it('rejects one request, or all of them, without a reply', async () => {
    const table = new PendingRequests<string>();
    const a = table.add('a', () => true);
    const b = table.add('b', () => true);
    const c = table.add('c', () => true);
    table.reject(2, new Error('lost'));
    await expect(b).rejects.toThrow('lost');
    table.rejectAll(new Error('closed'));
    await expect(a).rejects.toThrow('closed');
    await expect(c).rejects.toThrow('closed');
    expect(table.oldest()).toBeUndefined();
  });
});
