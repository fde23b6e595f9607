/**
 * The daemon's reach into ws's private Receiver (ws-receiver.ts), against a
 * real ws WebSocket on a fake socket: these fail when ws changes the fields
 * the daemon relies on, so an upgrade of the exactly pinned ws is reviewed.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { onRefusedFrame, receivedFragments, receivingBytes, setFrameLimit } from '../src/primary/ws-receiver.js';

/** The socket under a WebSocket: the test pushes the client's bytes, and sees what the server writes. */
class FakeSocket extends Duplex {
  readonly written: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.written.push(chunk);
    cb();
  }
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  /** True once the server wrote a close frame (opcode 8) after its 101 response. */
  get closeFrameSent(): boolean {
    return this.written.slice(1).some((b) => (b[0]! & 0x0f) === 0x8);
  }
}

/** A WebSocket the server side of ws built on a fake socket (default limit: 1000 bytes). */
function serverSide(): Promise<{ ws: WebSocket; socket: FakeSocket }> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1000, perMessageDeflate: false, clientTracking: false });
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.headers = {
    host: 'localhost',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-version': '13',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  };
  const socket = new FakeSocket();
  return new Promise((resolve) => wss.handleUpgrade(req, socket, Buffer.alloc(0), (ws) => resolve({ ws, socket })));
}

/** A masked binary frame, as a client sends it. */
function clientFrame(payload: Buffer): Buffer {
  const mask = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  const n = payload.length;
  const header = n < 126 ? Buffer.from([0x82, 0x80 | n]) : Buffer.from([0x82, 0x80 | 126, n >> 8, n & 0xff]);
  return Buffer.concat([header, mask, payload.map((b, i) => b ^ mask[i % 4]!)]);
}

describe("ws's private Receiver, as ws-receiver.ts uses it", () => {
  it('setFrameLimit lowers the limit: a frame over it is refused, and the listener hears it before ws sends its close frame', async () => {
    const { ws, socket } = await serverSide();
    setFrameLimit(ws, 10);
    const heard: { code: string | undefined; closeFrameSent: boolean }[] = [];
    onRefusedFrame(ws, (err) => heard.push({ code: err.code, closeFrameSent: socket.closeFrameSent }));
    // ws's public 'error' comes after it has sent its close frame.
    const error = new Promise<string | undefined>((resolve) => ws.on('error', (err: Error & { code?: string }) => resolve(err.code)));
    socket.push(clientFrame(Buffer.alloc(11)));
    expect(await error).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    expect(heard).toEqual([{ code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', closeFrameSent: false }]);
    expect(socket.closeFrameSent).toBe(true);
    ws.terminate();
  });

  it('setFrameLimit raises the limit: a frame over the server-wide one is received', async () => {
    const { ws, socket } = await serverSide();
    setFrameLimit(ws, 4000);
    const got = new Promise<number>((resolve) => ws.on('message', (data: Buffer) => resolve(data.length)));
    socket.push(clientFrame(Buffer.alloc(3000, 7)));
    expect(await got).toBe(3000);
    ws.terminate();
  });

  it('receivingBytes counts an unfinished frame from its header (declared and read), kept fragments, and nothing once the message is in', async () => {
    const { ws, socket } = await serverSide();
    setFrameLimit(ws, 100_000);
    const messages: number[] = [];
    ws.on('message', (data: Buffer) => messages.push(data.length));
    const whole = clientFrame(Buffer.alloc(3000, 7));
    const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
    expect(receivingBytes(ws)).toBe(0);
    socket.push(whole.subarray(0, 1000));
    await settle();
    // 3,000 declared by the header, and the 1,000 bytes read (header and mask included) waiting for the rest.
    expect(receivingBytes(ws)).toBe(3000 + 1000 - 8);
    socket.push(whole.subarray(1000));
    await settle();
    expect([messages, receivingBytes(ws)]).toEqual([[3000], 0]);
    // Two fragments of a message that does not end: their payload and a Buffer object each.
    const fragment = (first: number, n: number): Buffer => {
      const f = clientFrame(Buffer.alloc(n, 1));
      f[0] = first;
      return f;
    };
    socket.push(Buffer.concat([fragment(0x02, 200), fragment(0x00, 300)]));
    await settle();
    expect(receivedFragments(ws)).toBe(2);
    expect(receivingBytes(ws)).toBe(500 + 2 * 96);
    ws.terminate();
  });

  it('ws is pinned to the exact version these fields were checked against', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    const installed = (createRequire(import.meta.url)('ws/package.json') as { version: string }).version;
    expect(pkg.dependencies.ws).toBe(installed);
  });
});
