/**
 * The masking key of the SDK's frames, read off a real socket: zero to a daemon on this machine
 * (ws then neither copies nor XORs a frame), random to any other host, so a proxy on a network
 * path never sees bytes the app chose.
 */
import type { Socket as NetSocket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { Connection } from '../src/connection.js';
import { maskFor } from '../src/frame-mask.js';

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** The masking key of the first frame a Connection sends to a ws server listening on `host`. */
async function firstFrameMask(host: string, urlHost = host): Promise<Buffer> {
  const wss = new WebSocketServer({ host, port: 0 });
  servers.push(wss);
  await new Promise((r) => wss.once('listening', r));
  const { port } = wss.address() as { port: number };
  const raw = new Promise<Buffer>((resolve) => {
    wss.on('connection', (_ws, req) => {
      const socket = req.socket as NetSocket;
      socket.prependListener('data', (d: Buffer) => resolve(d));
    });
  });
  const conn = new Connection(
    { urls: [`ws://${urlHost}:${port}`], token: 't', name: 'mask', instance: 'i', reconnectTimeoutMs: 1000 },
    { message() {}, up() {}, down() {}, fatal() {}, expired() {} },
  );
  void conn.open().catch(() => {});
  const frame = await raw;
  await conn.close();
  expect(frame[1]! & 0x80).toBe(0x80); // a client frame is always marked masked
  const len = frame[1]! & 0x7f;
  const at = len === 126 ? 4 : len === 127 ? 10 : 2;
  return frame.subarray(at, at + 4);
}

describe('frame masking key', () => {
  it('is zero on 127.0.0.1, localhost and ::1', async () => {
    expect([...(await firstFrameMask('127.0.0.1'))]).toEqual([0, 0, 0, 0]);
    expect([...(await firstFrameMask('127.0.0.1', 'localhost'))]).toEqual([0, 0, 0, 0]);
    expect([...(await firstFrameMask('::1', '[::1]'))]).toEqual([0, 0, 0, 0]);
  });

  it("is random to a host reached over a network (this machine's own non-loopback address)", async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal);
    // Every CI and dev machine here has one; without it the rule is still checked below.
    if (external !== undefined) {
      const keys = [await firstFrameMask(external.address), await firstFrameMask(external.address)];
      expect(keys.some((k) => k.readUInt32BE(0) !== 0)).toBe(true);
      expect(keys[0]!.equals(keys[1]!)).toBe(false);
    }
    expect(maskFor('ws://10.1.2.3:7420')).toBeUndefined();
    expect(maskFor('wss://corepool.example.com')).toBeUndefined();
    expect(maskFor('ws://127.8.9.1:7420')).toBeTypeOf('function');
  });
});
