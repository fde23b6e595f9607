/**
 * channel.ts over a real socket pair: a paused end hands on no more frames, from
 * the one after the pause on (those already read wait in order), and resume hands
 * them on and reads the socket again; a pause from inside a handler holds the
 * frames of the same read. finish (the peer's process exited) hands on what a
 * pause held and what is still unread, ignores later pauses, and only then calls back.
 * whenFlowing waits for what a pause held (a deadline that must hear a later item's start).
 * Payloads of every size, split messages among them, arrive whole and in order.
 */
import { createServer, connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Channel } from '../src/channel.js';
import { until } from './support/wait.js';

/** Two connected sockets on the loopback. */
async function socketPair(): Promise<[Socket, Socket, () => void]> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const a = connect(port, '127.0.0.1');
  const b = await accepted;
  return [a, b, () => (a.destroy(), b.destroy(), server.close())];
}

/** A reader and a writer channel over a socket pair; the reader records each frame's `n` and pauses after those `pauseAfter` says. */
async function channels(pauseAfter: (n: number) => boolean) {
  const [a, b, close] = await socketPair();
  const got: number[] = [];
  const reader: Channel<{ n: number }, never> = new Channel<{ n: number }, never>(b, (m) => {
    got.push(m.n);
    if (pauseAfter(m.n)) reader.pause();
  });
  const writer = new Channel<never, { n: number }>(a, () => {});
  return { a, reader, writer, got, close };
}

describe('channel', () => {
  it('carries payloads of every size whole and in order, those written as a split message too', async () => {
    const [a, b, close] = await socketPair();
    const got: { n: number; payload: Uint8Array }[] = [];
    new Channel<{ n: number; payload: Uint8Array }, never>(b, (m) => got.push(m));
    const writer = new Channel<never, { n: number; payload: Uint8Array }>(a, () => {});
    try {
      // Under and over the split (16 KiB) and bin 16 (64 KiB) sizes, a few MB among them.
      const sizes = [0, 10, 16_383, 16_384, 65_535, 65_536, 3_000_000, 5, 200_000];
      const sent = sizes.map((size, n) => ({ n, payload: Uint8Array.from({ length: size }, (_, i) => (i * 7 + n) & 0xff) }));
      for (const m of sent) writer.send(m);
      await until(() => got.length === sent.length);
      got.forEach((m, i) => {
        expect(m.n).toBe(i);
        expect(Buffer.compare(Buffer.from(m.payload), Buffer.from(sent[i]!.payload))).toBe(0);
      });
    } finally {
      close();
    }
  });

  it('holds frames while paused and hands them on in order at resume', async () => {
    // Paused from inside a handler: 3..5 of the same read wait.
    const { reader, writer, got, close } = await channels((n) => n === 2);
    try {
      for (let n = 1; n <= 5; n++) writer.send({ n });
      await until(() => got.length >= 2);
      await new Promise((r) => setTimeout(r, 50));
      expect(got).toEqual([1, 2]);
      writer.send({ n: 6 });
      await new Promise((r) => setTimeout(r, 50));
      expect(got).toEqual([1, 2]);
      reader.resume();
      await until(() => got.length === 6);
      expect(got).toEqual([1, 2, 3, 4, 5, 6]);
      writer.send({ n: 7 });
      await until(() => got.length === 7);
    } finally {
      close();
    }
  });

  it('whenFlowing calls back at once when not paused, else once the held frames were handed on, again after a pause they made', async () => {
    // Paused at 2 and at 4: as a worker whose client's share ran out twice.
    const { reader, writer, got, close } = await channels((n) => n === 2 || n === 4);
    try {
      const heard: number[][] = [];
      reader.whenFlowing(() => heard.push([...got]));
      expect(heard).toEqual([[]]);
      for (let n = 1; n <= 6; n++) writer.send({ n });
      await until(() => got.length >= 2);
      reader.whenFlowing(() => heard.push([...got]));
      await new Promise((r) => setTimeout(r, 50));
      expect(heard).toHaveLength(1);
      reader.resume(); // 3 and 4 handed on, paused again at 4: still waiting
      await new Promise((r) => setTimeout(r, 50));
      expect([got, heard.length]).toEqual([[1, 2, 3, 4], 1]);
      reader.resume();
      await until(() => heard.length === 2);
      expect(heard[1]).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      close();
    }
  });

  it('finish hands on every frame, held or unread, before it calls back, whatever pauses meanwhile', async () => {
    // Paused after every frame, as a worker whose client's share is spent.
    const { a, reader, writer, got, close } = await channels(() => true);
    try {
      for (let n = 1; n <= 200; n++) writer.send({ n, pad: 'x'.repeat(1000) } as { n: number });
      await until(() => got.length === 1);
      a.end();
      const finished = await new Promise<number[]>((resolve) => reader.finish(() => resolve([...got])));
      expect(finished).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    } finally {
      close();
    }
  });
});
