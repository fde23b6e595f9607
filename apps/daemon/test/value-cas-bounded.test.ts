/**
 * compareAndSet is bounded on the primary's only thread (issue 9, item 5):
 * structural comparison of a 20,000-object Set runs in O(n log n) and answers
 * right, while another client's adds keep completing; a hostile 8 MB operand
 * of empty Maps is compared by bytes only, without being decoded, and as a
 * write it is checked by its framing only (decoding it would take over 30 s).
 * A bigint counts by its length: one of megabytes is compared and stored as
 * bytes, and add, which must decode and encode it, refuses it.
 */
import { describe, expect, it } from 'vitest';

import { encodeData } from '@corepool/protocol';
import { startDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';
import { addsBeside } from './support/neighbour.js';

describe('compareAndSet on large values', () => {
  it("a Set of 20,000 objects compares structurally and right; a neighbour's adds all complete meanwhile", async () => {
    await using d = await startDaemon({ workers: 1 });
    const a = await d.connect();
    const b = await d.connect();
    type Item = { id: number; name: string; tags: number[] };
    const objs: Item[] = Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `n${i}`, tags: [i % 7, i % 3] }));
    const big = a.value<Set<Item>>('big-set');
    await big.set(new Set(objs));
    const counter = b.value<number>('neighbour', { initial: 0 });
    await counter.get();

    // The neighbour adds without pause while five structural compare-and-sets run.
    const neighbour = addsBeside(counter);
    const reversed = new Set([...objs].reverse());
    const t0 = performance.now();
    const results: boolean[] = [];
    // 1: equal in another order -> set to a one-member set; 2: the old value no longer matches;
    // 3-4: a value with one member changed does not match; 5: the current one-member set, reordered, matches.
    results.push(await big.compareAndSet(reversed, new Set([objs[0]!])));
    results.push(await big.compareAndSet(reversed, new Set()));
    await big.set(new Set(objs));
    const changed = [...reversed];
    changed[12_345] = { ...changed[12_345]!, tags: [changed[12_345]!.tags[1]!, changed[12_345]!.tags[0]!] };
    results.push(await big.compareAndSet(new Set(changed), new Set()));
    results.push(await big.compareAndSet(new Set([...reversed].slice(1)), new Set()));
    results.push(await big.compareAndSet(reversed, new Set([{ id: -1, name: 'done', tags: [] }])));
    const casMs = performance.now() - t0;
    const { adds, slowestAddMs } = await neighbour.stop();
    expect(results).toEqual([true, false, false, false, true]);
    expect(await big.get()).toEqual(new Set([{ id: -1, name: 'done', tags: [] }]));
    expect(adds).toBeGreaterThan(0);
    expect(await counter.get()).toBe(adds);
    figure('cas.set20k', { casMs: Math.round(casMs), adds, slowestAddMs: Math.round(slowestAddMs) });
  }, 40_000);

  it('an 8 MB operand of empty Maps is compared by bytes (false) and stored without being decoded; the daemon stays small', async () => {
    await using d = await startDaemon({ workers: 1 });
    const c = await d.connect();
    await c.value('v').set(1);
    const raw = await d.raw({ hello: true });
    const n = 8 * 1024 * 1024 - 64 * 1024;
    const maps = new Uint8Array(n).fill(0x80);
    maps[0] = 0xdd; // array32 of n - 5 empty maps
    new DataView(maps.buffer).setUint32(1, n - 5);
    const rss0 = d.rss();
    const t0 = performance.now();
    for (let rid = 1; rid <= 3; rid++) raw.send({ type: 'state', rid, op: 'value.cas', name: 'v', a: maps, b: encodeData(2) });
    for (let rid = 1; rid <= 3; rid++) {
      const reply = await raw.next((m) => m.type === 'reply' && m.rid === rid, 30_000);
      expect(reply.ok).toBe(true);
      expect(reply.value).toEqual({ ok: false, version: 1 });
    }
    figure('cas.hostile8MB', { ms: Math.round(performance.now() - t0), rssGrowthMb: Math.round((d.rss() - rss0) / 1048576) });
    expect(await c.value('v').get()).toBe(1);
    // The same operand as a write is checked by its framing, not decoded; add on it is E_TYPE.
    raw.send({ type: 'state', rid: 4, op: 'value.set', name: 'maps', a: maps });
    expect((await raw.next((m) => m.type === 'reply' && m.rid === 4, 30_000)).ok).toBe(true);
    raw.send({ type: 'state', rid: 5, op: 'value.add', name: 'maps', a: encodeData(1) });
    expect(((await raw.next((m) => m.type === 'reply' && m.rid === 5, 30_000)).error as { code: string }).code).toBe('E_TYPE');
    const bad = maps.slice();
    bad[n - 1] = 0xc1; // a byte msgpack never uses
    raw.send({ type: 'state', rid: 6, op: 'queue.put', name: 'maps', a: bad });
    expect(((await raw.next((m) => m.type === 'reply' && m.rid === 6, 30_000)).error as { code: string }).code).toBe('E_BAD_MESSAGE');
    expect(await c.value('v').add(1)).toBe(2);
    expect(d.rss() - rss0).toBeLessThan(500 * 1048576);
  }, 40_000);

  it("bigints of 7.5 MB: add on one is E_TOO_LARGE, a compare-and-set or a put of one is not decoded; a neighbour's adds are served meanwhile", async () => {
    await using d = await startDaemon({ workers: 1 });
    const c = await d.connect();
    const counter = c.value<number>('neighbour', { initial: 0 });
    await counter.get();
    const raw = await d.raw({ hello: true });
    // Decoding one took the primary ~0.5 s (its extension was charged like a Date), a compare-and-set
    // of two ~1 s, encoding a sum ~0.2 s.
    const huge = (1n << 60_000_000n) - 12_345n;
    const stored = encodeData(huge);
    const other = encodeData(huge - 1n);

    const neighbour = addsBeside(counter);
    const ops: [op: string, name: string, a: Uint8Array, b?: Uint8Array][] = [
      ['value.set', 'huge', stored],
      ['value.add', 'huge', encodeData(1n)],
      ['value.add', 'sum', stored],
      ...Array.from({ length: 3 }, (): [string, string, Uint8Array, Uint8Array] => ['value.cas', 'huge', other, encodeData(1)]),
      ...Array.from({ length: 3 }, (): [string, string, Uint8Array] => ['queue.put', 'q', stored]),
      ['value.cas', 'huge', stored, encodeData(2)],
    ];
    const t0 = performance.now();
    const replies: unknown[] = [];
    for (const [i, [op, name, a, b]] of ops.entries()) {
      raw.send({ type: 'state', rid: i + 1, op, name, a, ...(b === undefined ? {} : { b }) });
      const reply = await raw.next((m) => m.type === 'reply' && m.rid === i + 1, 30_000);
      replies.push(reply.ok ? reply.value : (reply.error as { code: string }).code);
    }
    const ms = performance.now() - t0;
    const { adds, slowestAddMs } = await neighbour.stop();
    figure('add.hugeBigint', { ms: Math.round(ms), adds, slowestAddMs: Math.round(slowestAddMs) });
    expect(replies).toEqual([
      { version: 1 },
      'E_TOO_LARGE',
      'E_TOO_LARGE',
      { ok: false, version: 1 },
      { ok: false, version: 1 },
      { ok: false, version: 1 },
      { size: 1 },
      { size: 2 },
      { size: 3 },
      { ok: true, version: 2 },
    ]);
    expect(await c.value('huge').get()).toBe(2);
    expect(await c.queue('q').get()).toBe(huge);
    await expect(c.value('sum').get()).rejects.toMatchObject({ code: 'E_NO_SUCH_VALUE' });
    expect(await counter.get()).toBe(adds);
    // Each decoded request held the primary 0.5-1 s; moving 7.5 MB frames alone delays an add ~0.1-0.2 s.
    expect(slowestAddMs).toBeLessThan(600);
  }, 60_000);
});
