/**
 * The frame writer over real sockets: a ws server upgraded from an HTTP server
 * as the daemon's is, and a ws client reading what it writes. Every payload
 * length across the header's size boundaries arrives whole and in order,
 * interleaved with ws's own control frames; once the socket closes, a send
 * fails through its callback, and a peer that vanished mid-stream costs the
 * other connection nothing.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { SplitMessage } from '@corepool/protocol/internal';
import { frameWriter } from '../src/primary/frame-writer.js';

interface Pair {
  server: WebSocket;
  socket: Duplex;
  client: WebSocket;
  /** Every binary message the client got, in order. */
  got: Buffer[];
}

let http: Server | undefined;
const clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
  http = undefined;
});

/** A listening HTTP server whose upgrades hand each new (server ws, socket) to the returned queue. */
async function listen(): Promise<{ connect: () => Promise<Pair> }> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
  const accepted: ((x: { server: WebSocket; socket: Duplex }) => void)[] = [];
  http = createServer();
  http.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (server) => accepted.shift()?.({ server, socket }));
  });
  await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    async connect(): Promise<Pair> {
      const side = new Promise<{ server: WebSocket; socket: Duplex }>((resolve) => accepted.push(resolve));
      const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
      clients.push(client);
      const got: Buffer[] = [];
      client.on('message', (data, isBinary) => {
        expect(isBinary).toBe(true);
        got.push(data as Buffer);
      });
      await new Promise((resolve, reject) => {
        client.once('open', resolve);
        client.once('error', reject);
      });
      return { ...(await side), client, got };
    },
  };
}

/** A payload of `n` bytes that differs from every other length's. */
function payload(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 31 + n) & 0xff;
  return bytes;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('frameWriter', () => {
  it('delivers every length across the header boundaries whole and in order, among ws control frames', async () => {
    const { connect } = await listen();
    const { server, socket, client, got } = await connect();
    let pongs = 0;
    server.on('pong', () => pongs++);
    const writer = frameWriter(server, socket);
    // 7-bit lengths, the 16-bit field, the copy limit's edge, and a 64-bit length (through ws.send).
    const lengths = [0, 1, 125, 126, 127, 1000, 16_383, 16_384, 65_535, 65_536, 200_000];
    const sent: Uint8Array[] = [];
    const callbacks: (Error | null | undefined)[] = [];
    for (const n of lengths) {
      const p = payload(n);
      sent.push(p);
      writer.send(p, (err) => callbacks.push(err));
      server.ping();
    }
    await until(() => got.length === lengths.length && pongs === lengths.length, 'every frame and pong');
    expect(got.map((b) => b.length)).toEqual(lengths);
    got.forEach((b, i) => expect(Buffer.compare(b, Buffer.from(sent[i]!))).toBe(0));
    expect(callbacks).toHaveLength(lengths.length);
    expect(callbacks.every((e) => e == null)).toBe(true);
    expect(client.readyState).toBe(WebSocket.OPEN);
  });

  it('delivers split messages (head, then payload bytes) as one frame each, in order with whole ones', async () => {
    const { connect } = await listen();
    const { server, socket, got } = await connect();
    const writer = frameWriter(server, socket);
    // Whole frame lengths across the header's length forms, each split at a few places.
    const cases = [
      [100, 20],
      [125, 1],
      [126, 100],
      [65_535, 30],
      [65_536, 30],
      [65_537, 65_536],
      [300_000, 70],
    ] as const;
    const sent: Uint8Array[] = [];
    const callbacks: (Error | null | undefined)[] = [];
    for (const [n, at] of cases) {
      const p = payload(n);
      sent.push(p);
      writer.send(new SplitMessage(p.subarray(0, at), p.subarray(at)), (err) => callbacks.push(err));
      const small = payload(n % 300);
      sent.push(small);
      writer.send(small, (err) => callbacks.push(err));
    }
    await until(() => got.length === sent.length, 'every frame');
    got.forEach((b, i) => expect(Buffer.compare(b, Buffer.from(sent[i]!))).toBe(0));
    await until(() => callbacks.length === sent.length, 'every callback');
    expect(callbacks.every((e) => e == null)).toBe(true);
    // After close: refused through the callback, as a whole frame is.
    server.close(1000, 'bye');
    const err = await new Promise<Error | null | undefined>((resolve) =>
      writer.send(new SplitMessage(payload(10), payload(20_000)), resolve),
    );
    expect(err).toBeInstanceOf(Error);
  });

  it('counts what waits in the socket in bufferedAmount', async () => {
    const { connect } = await listen();
    const { server, socket, client } = await connect();
    // The client stops reading: what the kernel will not take stays in the socket's buffer.
    (client as unknown as { _socket: Duplex })._socket.pause();
    const writer = frameWriter(server, socket);
    const frame = payload(8000);
    let written = 0;
    while (writer.bufferedAmount === 0 && written < 10_000) {
      writer.send(frame, () => {});
      written++;
    }
    expect(writer.bufferedAmount).toBeGreaterThan(0);
    expect(writer.bufferedAmount).toBe(server.bufferedAmount);
  });

  it('fails a send after close through its callback, and writes nothing more', async () => {
    const { connect } = await listen();
    const { server, socket, client, got } = await connect();
    const writer = frameWriter(server, socket);
    server.close(1000, 'bye');
    const err = await new Promise<Error | null | undefined>((resolve) => writer.send(payload(10), resolve));
    expect(err).toBeInstanceOf(Error);
    await new Promise((resolve) => client.once('close', resolve));
    expect(got).toHaveLength(0);
  });

  it('keeps serving one connection while its neighbour vanishes mid-stream', async () => {
    const { connect } = await listen();
    const a = await connect();
    const b = await connect();
    const toA = frameWriter(a.server, a.socket);
    const toB = frameWriter(b.server, b.socket);
    const errors: unknown[] = [];
    b.server.on('error', () => {});
    for (let i = 0; i < 200; i++) {
      toA.send(payload(i), (err) => err && errors.push(err));
      if (i === 50) b.client.terminate();
      // Writes to the vanished peer may fail; they must not throw or touch A.
      toB.send(payload(i), () => {});
    }
    await until(() => a.got.length === 200, "A's frames");
    expect(errors).toEqual([]);
    a.got.forEach((m, i) => expect(m.length).toBe(i));
  });
});
