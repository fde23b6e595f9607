/**
 * The SDK's frames written by hand to a daemon on this machine, read by a
 * real ws server: each small one arrives as one masked frame with the zero
 * key, whole and in order with the frames ws writes itself (large ones, the
 * first message); nothing is written once the socket is no longer open.
 */
import type { Socket as NetSocket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { FRAME_COPY_LIMIT } from '@corepool/protocol/internal';
import { frameSender } from '../src/frame-writer.js';
import { maskFor } from '../src/frame-mask.js';

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    for (const c of s.clients) c.terminate();
    await new Promise((r) => s.close(r));
  }
});

interface Heard {
  messages: Buffer[];
  /** Every chunk of bytes the server's socket read, before ws parsed them. */
  raw: Buffer[];
}

/** A ws server on 127.0.0.1 and a client socket to it, with frameSender installed before it opens. */
async function pair(zeroMask: boolean): Promise<{ ws: WebSocket; send: (f: Uint8Array) => void; heard: Heard; closed: Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1 << 20 });
  servers.push(wss);
  await new Promise((r) => wss.once('listening', r));
  const { port } = wss.address() as { port: number };
  const heard: Heard = { messages: [], raw: [] };
  let closed!: () => void;
  const serverClosed = new Promise<void>((r) => (closed = r));
  wss.on('connection', (sws, req) => {
    (req.socket as NetSocket).prependListener('data', (d: Buffer) => heard.raw.push(Buffer.from(d)));
    sws.on('message', (m: Buffer) => heard.messages.push(m));
    sws.on('close', () => closed());
  });
  const url = `ws://127.0.0.1:${port}`;
  const mask = zeroMask ? maskFor(url) : undefined;
  const ws = new WebSocket(url, { perMessageDeflate: false, ...(mask === undefined ? {} : { generateMask: mask }) });
  const send = frameSender(ws, zeroMask);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, send, heard, closed: serverClosed };
}

/** `n` bytes, each its index mod 251 plus `seed`: a message that shows a reordering or a torn frame. */
const bytes = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i + seed) % 251));

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

describe('frameSender', () => {
  it('writes each small frame as one buffer, masked with the zero key, in order with the frames ws writes', async () => {
    const { ws, send, heard } = await pair(true);
    // Every header length (7-bit, 16-bit), the edges of each, and large frames ws writes, interleaved.
    const sizes = [0, 1, 125, 126, 127, 1000, 65535 % FRAME_COPY_LIMIT, FRAME_COPY_LIMIT - 1, FRAME_COPY_LIMIT, 200_000, 3, 70_000, 2];
    const sent = sizes.map((n, i) => bytes(n, i));
    ws.send(Buffer.from('first, through ws'));
    for (const m of sent) send(m);
    await until(() => heard.messages.length === sent.length + 1);
    expect(heard.messages[0]!.toString()).toBe('first, through ws');
    expect(heard.messages.slice(1).map((m) => m.length)).toEqual(sizes);
    for (let i = 0; i < sent.length; i++) expect(heard.messages[i + 1]!.equals(sent[i]!)).toBe(true);
    // The frames on the wire: MASK set and a zero key on each (walked through the bytes the server read).
    const wire = Buffer.concat(heard.raw);
    let at = 0;
    let frames = 0;
    while (at < wire.length) {
      expect(wire[at]).toBe(0x82);
      expect(wire[at + 1]! & 0x80).toBe(0x80);
      const len7 = wire[at + 1]! & 0x7f;
      const [len, head] =
        len7 === 126 ? [wire.readUInt16BE(at + 2), 4] : len7 === 127 ? [Number(wire.readBigUInt64BE(at + 2)), 10] : [len7, 2];
      expect(wire.readUInt32BE(at + head)).toBe(0);
      at += head + 4 + len;
      frames++;
    }
    expect(at).toBe(wire.length);
    expect(frames).toBe(sent.length + 1);
    ws.close();
  });

  it('takes the plain write for a small frame, not the gather write ws makes of its two buffers', async () => {
    const { ws, send, heard } = await pair(true);
    // The client's own end of the TCP connection: ws corks a zero-key frame's two buffers into one writev.
    const socket = (ws as unknown as { _socket: NetSocket })._socket;
    let gathered = 0;
    const writev = socket._writev!.bind(socket);
    socket._writev = (chunks, cb) => {
      gathered++;
      writev(chunks, cb);
    };
    for (let i = 0; i < 20; i++) send(bytes(40 + i, i));
    await until(() => heard.messages.length === 20);
    expect(gathered).toBe(0);
    // The same frames through ws.send, as the SDK sent them before: a writev each (fewer if the socket ever queued).
    for (let i = 0; i < 20; i++) ws.send(bytes(40 + i, i));
    await until(() => heard.messages.length === 40);
    expect(gathered).toBeGreaterThan(0);
    ws.close();
  });

  it('leaves every frame to ws where the key is not zero', async () => {
    const { ws, send, heard } = await pair(false);
    const sent = [bytes(10, 1), bytes(300, 2), bytes(20_000, 3)];
    for (const m of sent) send(m);
    await until(() => heard.messages.length === sent.length);
    for (let i = 0; i < sent.length; i++) expect(heard.messages[i]!.equals(sent[i]!)).toBe(true);
    ws.close();
  });

  it('writes nothing, and throws nothing, once the socket is closing or closed', async () => {
    const { ws, send, heard, closed } = await pair(true);
    send(bytes(5, 1));
    await until(() => heard.messages.length === 1);
    ws.close();
    expect(() => send(bytes(5, 2))).not.toThrow();
    await closed;
    expect(() => send(bytes(5, 3))).not.toThrow();
    expect(heard.messages).toHaveLength(1);
  });
});
