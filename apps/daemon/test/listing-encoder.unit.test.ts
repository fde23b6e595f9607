/**
 * ListingEncoder on its own: a large listing's bytes, encoded a slice a turn,
 * are exactly what encoding it whole writes, keys and entries alike (and the
 * reply around them what encodeMessage writes for the reply object); a small
 * one is replied as it is; one over the reply's bytes fails E_TOO_LARGE
 * before it encodes what it cannot send; and the event loop turns while a
 * large one is encoded.
 */
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '@corepool/protocol';
import { EncodedValue, encodeReply } from '@corepool/protocol/internal';
import { ListingEncoder, SLICED_FROM } from '../src/state/listing-encoder.js';

const MB = 1024 * 1024;
const keysOf = (n: number): string[] => Array.from({ length: n }, (_, i) => (i % 7 === 0 ? `clé-${i}-✓` : `key:${i}`));
const valuesOf = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => new Uint8Array(i % 300).fill(i & 0xff));

describe('ListingEncoder', () => {
  it('replies a small listing as it is, as pairs for entries', () => {
    const e = new ListingEncoder(8 * MB);
    expect(e.reply('c:1', { keys: ['a', 'b'] }, 'dict.keys', 'd')).toEqual(['a', 'b']);
    const v = [new Uint8Array([1]), new Uint8Array([2])];
    expect(e.reply('c:1', { keys: ['a', 'b'], values: v }, 'dict.entries', 'd')).toEqual([
      ['a', v[0]],
      ['b', v[1]],
    ]);
  });

  for (const n of [SLICED_FROM, 5_000, 70_000]) {
    it(`encodes ${n} keys and ${n} entries to the bytes of the whole, in a reply encodeMessage would write`, async () => {
      const e = new ListingEncoder(32 * MB);
      const keys = keysOf(n);
      const values = valuesOf(n);
      const k = (await e.reply('c:1', { keys }, 'dict.keys', 'd')) as EncodedValue;
      expect(k).toBeInstanceOf(EncodedValue);
      expect(Buffer.from(k.bytes).equals(Buffer.from(encodeMessage(keys)))).toBe(true);
      const pairs = keys.map((key, i) => [key, values[i]]);
      const en = (await e.reply('c:1', { keys, values }, 'dict.entries', 'd')) as EncodedValue;
      expect(Buffer.from(en.bytes).equals(Buffer.from(encodeMessage(pairs)))).toBe(true);
      for (const rid of [1, 300, 70_000, 2 ** 32 + 5]) {
        const whole = encodeMessage({ type: 'reply', rid, ok: true, value: keys });
        expect(Buffer.from(encodeReply(rid, k)).equals(Buffer.from(whole))).toBe(true);
      }
      // Decoded, the reply holds the pairs (compared as bytes again: a deep equality of 70,000 typed arrays takes seconds).
      const decoded = (decodeMessage(encodeReply(7, en)) as { value: unknown }).value;
      expect(Buffer.from(encodeMessage(decoded)).equals(Buffer.from(encodeMessage(pairs)))).toBe(true);
    });
  }

  it('fails E_TOO_LARGE past the bytes a reply may carry, before encoding values it could not send', async () => {
    const e = new ListingEncoder(MB);
    const n = 5_000;
    const keys = keysOf(n);
    await expect(e.reply('c:1', { keys: keys.map((k) => k.padEnd(400, '.')) }, 'dict.keys', 'd')).rejects.toMatchObject({
      code: 'E_TOO_LARGE',
    });
    // 5,000 values of 64 MiB would be 320 GiB: refused from the sizes, never encoded (they share one buffer here).
    const huge = new Uint8Array(64 * MB);
    const t = performance.now();
    await expect(e.reply('c:1', { keys, values: keys.map(() => huge) }, 'dict.entries', 'd')).rejects.toMatchObject({
      code: 'E_TOO_LARGE',
      message: expect.stringContaining('dict.keys() and then get()'),
    });
    expect(performance.now() - t).toBeLessThan(5_000);
  });

  it('lets the event loop turn while it encodes a large listing', async () => {
    const e = new ListingEncoder(64 * MB);
    const keys = keysOf(300_000);
    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const before = turns;
    await e.reply('c:1', { keys }, 'dict.keys', 'd');
    ticking = false;
    expect(turns - before).toBeGreaterThan(2);
  });
});

describe('ListingEncoder, shared', () => {
  it("refuses from a dict's lengths alone what could not be sent, keys and entries", () => {
    const e = new ListingEncoder(1000);
    expect(e.refuse('dict.keys', 'd', { count: 100, keyLengths: 800, valueBytes: 0 })).toBeUndefined();
    expect(e.refuse('dict.keys', 'd', { count: 100, keyLengths: 950, valueBytes: 0 })?.code).toBe('E_TOO_LARGE');
    expect(e.refuse('dict.entries', 'd', { count: 100, keyLengths: 500, valueBytes: 100 })).toBeUndefined();
    expect(e.refuse('dict.entries', 'd', { count: 100, keyLengths: 500, valueBytes: 300 })?.code).toBe('E_TOO_LARGE');
  });

  it("stops an owner's listings once it went (waiting and being encoded), and takes owners in turn", async () => {
    const e = new ListingEncoder(64 * MB);
    const big = new Array<string>(600_000).fill('k');
    const order: string[] = [];
    const run = (owner: string): Promise<string> =>
      (e.reply(owner, { keys: big }, 'dict.keys', 'd') as Promise<unknown>).then(
        () => {
          order.push(owner);
          return 'ok';
        },
        (err: { code?: string }) => String(err.code),
      );
    // Four places: a's four take them; a's fifth and b's one wait, and b's goes first.
    const a = [run('a'), run('a'), run('a'), run('a')];
    const more = run('a');
    const b = run('b');
    e.dropOwner('a', Object.assign(new Error('gone'), { code: 'E_CANCELLED' }));
    expect(await Promise.all(a)).toEqual(['E_CANCELLED', 'E_CANCELLED', 'E_CANCELLED', 'E_CANCELLED']);
    expect(await more).toBe('E_CANCELLED');
    expect(await b).toBe('ok');
    expect(order).toEqual(['b']);
    // Nothing held any more: a listing is taken again.
    expect(await run('d')).toBe('ok');
  }, 60_000);

  it('admits listings up to 4,000,000 keys held, before they are read, and small ones always', () => {
    const e = new ListingEncoder(64 * MB);
    const releases = Array.from({ length: 6 }, () => e.admit('c:1', 600_000));
    expect(releases.every((r) => typeof r === 'function')).toBe(true);
    const refused = e.admit('c:1', 600_000);
    expect(refused).toMatchObject({ code: 'E_LIMIT' });
    expect(typeof e.admit('c:1', SLICED_FROM - 1)).toBe('function');
    (releases[0] as () => void)();
    (releases[0] as () => void)(); // twice: released once
    expect(typeof e.admit('c:1', 600_000)).toBe('function');
    expect(e.admit('c:1', 600_000)).toMatchObject({ code: 'E_LIMIT' });
  });

  it('settles every listing of many owners listing at once, some going meanwhile, and takes new ones after', async () => {
    const e = new ListingEncoder(64 * MB);
    const keys = keysOf(SLICED_FROM);
    const outcomes = new Map<string, number>();
    const all: Promise<void>[] = [];
    for (let round = 0; round < 3; round++) {
      for (let o = 0; o < 12; o++) {
        for (let j = 0; j < 1 + (o % 4); j++) {
          all.push(
            (e.reply(`c:${o}`, { keys }, 'dict.keys', 'd') as Promise<unknown>).then(
              () => void outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1),
              (err: { code?: string }) => void outcomes.set(String(err.code), (outcomes.get(String(err.code)) ?? 0) + 1),
            ),
          );
        }
      }
      // Owners that go while theirs wait or are encoded, and come back under the same name next round.
      await new Promise((r) => setImmediate(r));
      e.dropOwner('c:3', Object.assign(new Error('gone'), { code: 'E_CANCELLED' }));
      e.dropOwner('c:7', Object.assign(new Error('gone'), { code: 'E_CANCELLED' }));
    }
    await Promise.all(all);
    expect([...outcomes.keys()].sort()).toEqual(['E_CANCELLED', 'ok']);
    expect((outcomes.get('ok') ?? 0) + (outcomes.get('E_CANCELLED') ?? 0)).toBe(all.length);
    expect(await e.reply('c:3', { keys }, 'dict.keys', 'd')).toBeInstanceOf(EncodedValue);
  }, 60_000);
});
