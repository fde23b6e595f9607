/**
 * Outbox: a tick's small messages leave as one frame, in order, with the
 * bytes encodeMessage writes (replies written in place included), within the
 * frame and message limits, and a frame holds no more buffer than it needs.
 */
import { describe, expect, it } from 'vitest';
import { VersionReply, decodeMessage, encodeMessage } from '../src/codec.js';
import { MAX_BATCH_MESSAGES, Outbox } from '../src/outbox.js';

function outbox() {
  const frames: Uint8Array[] = [];
  const box = new Outbox((f) => frames.push(f));
  return { box, frames };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

describe('Outbox', () => {
  it('sends one message of a tick as itself, byte for byte', async () => {
    const { box, frames } = outbox();
    const m = encodeMessage({ type: 'status', rid: 1 });
    box.push(m);
    expect(frames).toHaveLength(0);
    expect(box.pending).toBe(m.length);
    await tick();
    expect(frames).toHaveLength(1);
    expect(same(frames[0]!, m)).toBe(true);
    expect(box.pending).toBe(0);
  });

  it('sends a reply written in place with the bytes encodeMessage writes', async () => {
    const { box, frames } = outbox();
    const bytes = new Uint8Array([1, 2, 3]);
    for (const [rid, value] of [
      [7, bytes],
      [300, new VersionReply(5, bytes)],
      [70_000, new VersionReply(2 ** 32 - 1)],
      [-1, bytes], // written by msgpackr: not an id the hand-written path takes
      [2 ** 40, new VersionReply(1.5, bytes)],
    ] as const) {
      box.reply(rid, value);
      await tick();
      expect(same(frames.at(-1)!, encodeMessage({ type: 'reply', rid, ok: true, value }))).toBe(true);
    }
  });

  it('gathers a tick of pushes and replies into one array frame, in order', async () => {
    const { box, frames } = outbox();
    const expected: unknown[] = [];
    for (let i = 0; i < 40; i++) {
      if (i % 3 === 0) {
        const m = { type: 'push', kind: 'value', name: `n${i}`, version: i };
        box.push(encodeMessage(m));
        expected.push(m);
      } else {
        const value = new Uint8Array(i).fill(i);
        box.reply(i, i % 2 ? new VersionReply(i, value) : value);
        expected.push({ type: 'reply', rid: i, ok: true, value: i % 2 ? { version: i, value } : value });
      }
    }
    await tick();
    expect(frames).toHaveLength(1);
    expect(frames[0]![0]).toBe(0xdc); // array16: 40 elements
    expect(decodeMessage(frames[0]!)).toEqual(expected);
  });

  it('writes a large message on its own, after what was pending', async () => {
    const { box, frames } = outbox();
    box.reply(1, new Uint8Array([1]));
    box.reply(2, new Uint8Array([2]));
    const big = new Uint8Array(20_000).fill(9);
    box.reply(3, big);
    expect(frames).toHaveLength(2);
    expect(decodeMessage(frames[0]!)).toEqual([
      { type: 'reply', rid: 1, ok: true, value: new Uint8Array([1]) },
      { type: 'reply', rid: 2, ok: true, value: new Uint8Array([2]) },
    ]);
    expect(decodeMessage(frames[1]!)).toEqual({ type: 'reply', rid: 3, ok: true, value: big });
    await tick();
    expect(frames).toHaveLength(2);
  });

  it('keeps frames within the peer limit and the message limit, losing and reordering nothing', async () => {
    const { box, frames } = outbox();
    box.maxFrame = 20_000;
    const n = MAX_BATCH_MESSAGES + 3000;
    for (let rid = 0; rid < n; rid++) box.reply(rid, new Uint8Array(rid % 50));
    await tick();
    const rids: number[] = [];
    for (const f of frames) {
      expect(f.length).toBeLessThanOrEqual(20_000);
      const m = decodeMessage(f);
      const list = (Array.isArray(m) ? m : [m]) as { rid: number; value: Uint8Array }[];
      expect(list.length).toBeLessThanOrEqual(MAX_BATCH_MESSAGES);
      for (const r of list) {
        expect(r.value.length).toBe(r.rid % 50);
        rids.push(r.rid);
      }
    }
    expect(rids).toEqual(Array.from({ length: n }, (_, i) => i));

    // The message limit on its own: tiny replies, no byte limit near.
    frames.length = 0;
    box.maxFrame = 1 << 30;
    for (let rid = 0; rid < MAX_BATCH_MESSAGES + 1; rid++) box.reply(rid, new Uint8Array(0));
    await tick();
    expect(frames.map((f) => (decodeMessage(f) as unknown[]).length ?? 1)).toEqual([MAX_BATCH_MESSAGES, 1]);
  });

  it('holds no frame in a buffer more than twice its size, whatever the frames before it', async () => {
    const { box, frames } = outbox();
    let rid = 0;
    // Small after large (a large first guess), large after small (grown by doubling), one-message frames.
    for (const [count, size] of [
      [2000, 20],
      [1, 1],
      [1, 0],
      [300, 100],
      [3, 5000],
      [1, 2],
      [5000, 1],
      [1, 40],
    ]) {
      for (let i = 0; i < count!; i++) box.reply(rid++, new Uint8Array(size!));
      await tick();
    }
    expect(frames.length).toBeGreaterThanOrEqual(8);
    for (const f of frames) expect(f.buffer.byteLength).toBeLessThanOrEqual(2 * (f.length + 5));
    expect(decodeMessage(frames.at(-1)!)).toEqual({ type: 'reply', rid: rid - 1, ok: true, value: new Uint8Array(40) });
  });

  it('takes messages queued by its own write (re-entered), within the limit, none lost or reordered', async () => {
    const frames: Uint8Array[] = [];
    // What the socket's write queues at once, one per write (a cut-off's error, say).
    const reenter: [number, number][] = [];
    const box = new Outbox((f) => {
      frames.push(f);
      const next = reenter.shift();
      if (next !== undefined) box.reply(next[0], new Uint8Array(next[1]));
    });
    const rids = (): number[] =>
      frames.flatMap((f) => {
        const m = decodeMessage(f);
        return ((Array.isArray(m) ? m : [m]) as { rid: number }[]).map((r) => r.rid);
      });
    box.maxFrame = 20_000;
    reenter.push([100, 15_000], [101, 15_000], [102, 15_000]);
    box.reply(1, new Uint8Array(15_000));
    box.reply(2, new Uint8Array(15_000));
    box.reply(3, new Uint8Array(15_000));
    await tick();
    for (const f of frames) expect(f.length).toBeLessThanOrEqual(20_000);
    // In the order they were queued: each re-entered one while the frame before it was being written.
    expect(rids()).toEqual([1, 100, 101, 102, 2, 3]);

    // A large message goes after what the flush before it queued.
    frames.length = 0;
    reenter.push([103, 10]);
    box.reply(4, new Uint8Array(10));
    box.reply(5, new Uint8Array(20_000));
    await tick();
    expect(rids()).toEqual([4, 103, 5]);
  });

  it('drops what is pending on clear, and sends later messages alone', async () => {
    const { box, frames } = outbox();
    box.reply(1, new Uint8Array([1]));
    box.clear();
    expect(box.pending).toBe(0);
    box.reply(2, new Uint8Array([2]));
    await tick();
    expect(frames.map((f) => decodeMessage(f))).toEqual([{ type: 'reply', rid: 2, ok: true, value: new Uint8Array([2]) }]);
  });
});
