/**
 * Listings of a large dict on a real daemon: `keys()` and `entries()` of a
 * 150,000-key dict, from an app and from a task, read whole and in order,
 * though the daemon encodes them a slice a turn (listing-encoder.ts); and the
 * co-tenant case: one app listing that dict over and over, eight at a time,
 * beside a neighbour whose writes are answered between the slices (in one go,
 * each listing held the daemon ~25 ms and the neighbour's every write waited
 * behind a frame of them); a subscriber reading entries() (as a resync
 * does) gets a push of a write after its listing only after the listing, so
 * it never keeps an older value; and an app that goes stops its listings.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { encodeData } from '@corepool/protocol/internal';
import { type TestDaemon, useDaemon } from './support/daemon.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

const N = 150_000;

describe('large dict listings', () => {
  it('read a 150,000-key dict whole and in order, from an app and from a task; a neighbour is served between the slices of an app listing it eight at a time', async () => {
    const dict = client.dict<number>('wide');
    for (let i = 0; i < N; i += 10_000) {
      await Promise.all(Array.from({ length: 10_000 }, (_, j) => dict.set(`key:${i + j}`, i + j)));
    }
    const keys = await dict.keys();
    expect(keys).toHaveLength(N);
    expect(keys.every((k, i) => k === `key:${i}`)).toBe(true);
    const entries = await dict.entries();
    expect(entries).toHaveLength(N);
    expect(entries.every(([k, v], i) => k === `key:${i}` && v === i)).toBe(true);
    const [fromTask] = await client.map(
      async (name: string, ctx) => {
        const all = await ctx.dict<number>(name).keys();
        return [all.length, all[0], all[all.length - 1]];
      },
      ['wide'],
    );
    expect(fromTask).toEqual([N, 'key:0', `key:${N - 1}`]);

    // The co-tenant: eight listings in flight again and again, on a connection of its own.
    const hostile = await d.connect();
    const listed = hostile.dict<number>('wide');
    let stop = false;
    let replies = 0;
    const lister = (async () => {
      while (!stop) {
        await Promise.all(
          Array.from({ length: 8 }, () =>
            listed.keys().then((k) => {
              expect(k).toHaveLength(N);
              replies++;
            }),
          ),
        );
      }
    })();
    try {
      while (replies < 8) await new Promise((r) => setTimeout(r, 5));
      const neighbour = client.value<number>('neighbour');
      await neighbour.set(0);
      const from = replies;
      for (let i = 0; i < 40; i++) await neighbour.add(1);
      // A write waits for a slice (2 ms) and the listings' reads in its turn, not for whole listings: in one go,
      // 91-96 listings went out during the neighbour's 40 writes; a slice at a time, 16-29.
      expect(replies - from).toBeLessThan(60);
      expect(await neighbour.get()).toBe(40);
    } finally {
      stop = true;
      await lister;
      await hostile.close();
    }
  }, 120_000);

  it("sends a subscriber's pushes of writes after its listing only after the listing", async () => {
    // The 150,000-key dict of the test before: its entries take many turns to encode.
    const name = 'wide';
    const sub = await d.raw({ hello: true });
    sub.send({ type: 'state', rid: 1, op: 'dict.subscribe', name });
    await sub.next((m) => m.rid === 1);
    sub.send({ type: 'state', rid: 2, op: 'dict.entries', name });
    sub.send({ type: 'state', rid: 3, op: 'dict.size', name });
    // Answered in order of reading: the daemon has read the listing, and encodes it still.
    await sub.next((m) => m.rid === 3, 20_000);
    await client.dict<number>(name).set('key:0', -1);
    await sub.next((m) => m.rid === 2, 20_000);
    await sub.next((m) => m.type === 'push' && m.key === 'key:0', 20_000);
    const seen = sub.messages
      .filter((m) => m.rid === 2 || (m.type === 'push' && m.key === 'key:0'))
      .map((m) => (m.rid === 2 ? 'listing' : 'push'));
    expect(seen).toEqual(['listing', 'push']);
    const listing = sub.messages.find((m) => m.rid === 2)!.value as [string, Uint8Array][];
    expect(listing).toHaveLength(N);
    // What the dict held when the listing was read: the write came after it.
    expect(Buffer.from(listing[0]![1]).equals(Buffer.from(encodeData(0)))).toBe(true);
    sub.ws.close();
  });
});
