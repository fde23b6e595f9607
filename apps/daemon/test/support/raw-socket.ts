/**
 * A raw WebSocket to a test daemon, for the hand-written wire clients of the
 * hostile-client and fault tests: every decoded message is kept, and the
 * close code (or the HTTP status of a refused upgrade) is observable.
 */
import WebSocket from 'ws';
import { PROTOCOL_VERSION, decodeMessage, encodeMessage } from '@corepool/protocol';

/** The messages in one frame from the daemon (it coalesces the messages of one tick into an array). */
export function decodeFrame(data: Uint8Array): unknown[] {
  const decoded = decodeMessage(data);
  return Array.isArray(decoded) ? decoded : [decoded];
}

export interface RawOptions {
  headers?: Record<string, string>;
  /** Send hello with the daemon's token (or this token) and wait for welcome. */
  hello?: boolean | string;
}

/** A raw socket: every decoded message, and the close code and reason once closed. */
export interface RawSocket {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  /** Resolves at close: the close code (or HTTP status for a refused upgrade) and reason. */
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first message matching `pred`. */
  next(pred: (m: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  send(m: unknown): void;
}

/** Opens a raw socket to `url`; with a `token`, sends hello and resolves after welcome. */
export function openRaw(url: string, token: string | undefined, headers: Record<string, string> = {}): Promise<RawSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, headers });
  const messages: Record<string, unknown>[] = [];
  const waiters: { pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('unexpected-response', (_req, res) => {
      resolve({ code: res.statusCode ?? 0, reason: 'http' });
      ws.terminate();
    });
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('message', (data) => {
    let frame: Record<string, unknown>[];
    try {
      frame = decodeFrame(data as Buffer) as Record<string, unknown>[];
    } catch {
      frame = [{ type: 'undecodable' }];
    }
    for (const m of frame) {
      messages.push(m);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.pred(m)) waiters.splice(i, 1)[0]!.resolve(m);
      }
    }
  });
  const sock: RawSocket = {
    ws,
    messages,
    closed,
    next(pred, ms = 10_000) {
      const hit = messages.find(pred);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('raw socket: no matching message')), ms);
        waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
        void closed.then(() => setTimeout(() => reject(new Error('raw socket closed before a matching message')), 50));
      });
    },
    send(m) {
      ws.send(m instanceof Uint8Array || typeof m === 'string' ? m : encodeMessage(m));
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      if (token === undefined) {
        resolve(sock);
        return;
      }
      sock.send({ type: 'hello', v: PROTOCOL_VERSION, token });
      sock
        .next((m) => m.type === 'welcome' || m.type === 'error')
        .then((m) => (m.type === 'welcome' ? resolve(sock) : reject(new Error(JSON.stringify(m)))), reject);
    });
    void closed.then(() => resolve(sock));
  });
}
