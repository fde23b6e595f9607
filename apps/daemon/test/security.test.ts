/**
 * Authentication and hostile input: a wrong token, messages before hello,
 * garbage frames, browser-originated upgrades. None of it runs anything or
 * disturbs a client that keeps working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { connect, type Client } from '@corepool/client';
import { PROTOCOL_VERSION, encodeMessage, encodeData } from '@corepool/protocol';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import { decodeFrame } from './support/raw-socket.js';

let d: TestDaemon;
let good: Client;
beforeAll(async () => {
  d = await startDaemon({ args: ['--auth-deadline-ms', '500'] });
  good = await d.connect();
});
afterAll(async () => {
  await d?.[Symbol.asyncDispose]();
});

/** A raw socket: resolves with the close code and reason, and every decoded message. */
function raw(
  frames: (Uint8Array | string)[],
  headers: Record<string, string> = {},
): Promise<{ code: number; reason: string; messages: unknown[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(d.url, { perMessageDeflate: false, headers });
    const messages: unknown[] = [];
    ws.on('open', () => {
      for (const f of frames) ws.send(f);
    });
    ws.on('message', (data) => {
      try {
        messages.push(...decodeFrame(data as Buffer));
      } catch {
        messages.push('undecodable');
      }
    });
    ws.on('error', () => {});
    ws.on('unexpected-response', (_req, res) => resolve({ code: res.statusCode ?? 0, reason: 'http', messages }));
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), messages }));
    setTimeout(() => reject(new Error('raw socket did not close')), 10_000);
  });
}

describe('authentication', () => {
  it('a wrong token gets E_AUTH', async () => {
    // It says where the token came from: the fix is there.
    await expect(connect(d.url, { token: 'wrong' })).rejects.toMatchObject({
      code: 'E_AUTH',
      message: expect.stringMatching(/token from options\.token: wrong token: it has 5 characters, and a daemon's token has at least 16/),
    });
    // One as long as a daemon's says no more than that it is wrong.
    await expect(connect(d.url, { token: 'w'.repeat(43) })).rejects.toMatchObject({
      code: 'E_AUTH',
      message: expect.stringMatching(/token from options\.token: wrong token$/),
    });
  });

  it('a batch sent before hello runs nothing and closes with 1008 E_AUTH', async () => {
    const marker = `canary-${Date.now()}`;
    const src = `(x) => { require('node:fs').writeFileSync(${JSON.stringify(`/tmp/${marker}`)}, 'ran'); return x; }`;
    const r = await raw([
      encodeMessage({ type: 'batch.open', id: 1, task: { kind: 'source', hash: 'h', source: src }, timeoutMs: 0, retries: 0 }),
      encodeMessage({ type: 'batch.chunk', id: 1, start: 0, count: 1, payload: encodeData([1]) }),
    ]);
    expect(r.code).toBe(1008);
    expect(r.reason).toBe('E_AUTH');
    expect(r.messages[0]).toMatchObject({ type: 'error', error: { code: 'E_AUTH' } });
    const { existsSync } = await import('node:fs');
    expect(existsSync(`/tmp/${marker}`)).toBe(false);
  });

  it('a connection that never authenticates is closed at the deadline', async () => {
    const r = await raw([]);
    expect(r.code).toBe(1008);
  });

  it('an oversized frame before authentication is refused (1009) without harm', async () => {
    const r = await raw([Buffer.alloc(64 * 1024, 1)]);
    expect(r.code).toBe(1009);
    expect(await good.map((x: number) => x + 1, [1])).toEqual([2]);
  });

  it('refuses browser-originated upgrades and foreign Host headers with 403', async () => {
    expect((await raw([], { Origin: 'http://evil.example' })).code).toBe(403);
    expect((await raw([], { Host: 'evil.example' })).code).toBe(403);
    const status = await new Promise<number>((resolve) => {
      // Not `/`, the dashboard's: a path no route serves is the WebSocket's.
      const req = request({ host: '127.0.0.1', port: d.port, method: 'POST', path: '/x' }, (res) => resolve(res.statusCode ?? 0));
      req.on('error', () => resolve(0));
      req.end('x');
    });
    expect(status).toBe(426);
  });
});

describe('garbage', () => {
  it('random frames on a raw socket get coded errors while another client keeps working', async () => {
    const ws = new WebSocket(d.url, { perMessageDeflate: false });
    const errors: string[] = [];
    let closed = false;
    let welcomed: () => void = () => {};
    const welcome = new Promise<void>((resolve) => (welcomed = resolve));
    await new Promise<void>((resolve) => ws.on('open', () => resolve()));
    ws.on('message', (data) => {
      for (const one of decodeFrame(data as Buffer)) {
        const m = one as { type: string; error?: { code: string } };
        if (m.type === 'error') errors.push(m.error!.code);
        if (m.type === 'welcome') welcomed();
      }
    });
    ws.on('close', () => (closed = true));
    ws.on('error', () => {});
    ws.send(encodeMessage({ type: 'hello', v: PROTOCOL_VERSION, token: d.token }));
    await welcome;
    const work = good.map(
      (x: number) => x * 2,
      Array.from({ length: 20_000 }, (_, i) => i),
    );
    const frames = [
      Buffer.alloc(0),
      Buffer.from([0xc1]),
      Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]),
      encodeMessage({ type: 'batch.chunk', id: -1 }),
      encodeMessage({ type: 'state', rid: 1, op: 'eval', name: 'x' }),
      encodeMessage([1, 2, 3]),
      encodeMessage({ type: '__proto__', constructor: { prototype: { polluted: 1 } } }),
    ];
    for (let i = 0; i < 10; i++) frames.push(randomBytes(1 + ((i * 37) % 200)));
    for (const f of frames) if (!closed) ws.send(f);
    const out = await work;
    expect(out[19_999]).toBe(39_998);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((c) => c === 'E_BAD_MESSAGE')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    ws.terminate();
    expect(await good.map((x: number) => x, [1, 2])).toEqual([1, 2]);
  });
});
