/**
 * Connection against a fake daemon (no socket): the hello it sends, what it
 * makes of the daemon's closes, and its reconnect: down, then up again, or
 * offline (expired) once reconnectTimeoutMs has passed, until revived.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AuthError,
  ConnectionError,
  DEFAULT_MAX_PAYLOAD,
  LARGEST_MAX_PAYLOAD,
  PROTOCOL_VERSION,
  type CorepoolError,
  type ServerMessage,
  type Welcome,
} from '@corepool/protocol/internal';
import { Connection, reconnectDelay, type ConnectionEvents } from '../src/connection.js';
import { FakeDaemon } from './support/fake-daemon.js';

/** A connection to `daemon` that records what it tells its owner. */
function connection(
  daemon: FakeDaemon,
  reconnectTimeoutMs = 30_000,
  urls: string[] = ['ws://fake'],
  guarded?: () => boolean,
): { conn: Connection; events: string[]; messages: ServerMessage[]; errors: CorepoolError[] } {
  const events: string[] = [];
  const messages: ServerMessage[] = [];
  const errors: CorepoolError[] = [];
  const handlers: ConnectionEvents = {
    message: (m) => messages.push(m),
    up: (_w: Welcome, reconnected) => events.push(reconnected ? 'up again' : 'up'),
    down: (err) => {
      events.push('down');
      errors.push(err);
    },
    fatal: (err) => {
      events.push('fatal');
      errors.push(err);
    },
    expired: (err) => {
      events.push('expired');
      errors.push(err);
    },
  };
  const conn = new Connection(
    { urls, token: 't0k', name: 'unit', instance: 'inst-1', reconnectTimeoutMs, openSocket: daemon.openSocket, guarded },
    handlers,
  );
  return { conn, events, messages, errors };
}

describe('Connection', () => {
  it('authenticates with hello and resolves with the welcome; messages go to the owner', async () => {
    const daemon = new FakeDaemon();
    const { conn, events, messages } = connection(daemon);
    const welcome = await conn.open();
    expect(welcome).toMatchObject({ type: 'welcome', workers: 1, pid: 4242 });
    expect(daemon.socket.received[0]).toEqual({ type: 'hello', v: PROTOCOL_VERSION, token: 't0k', name: 'unit', instance: 'inst-1' });
    expect(events).toEqual(['up']);
    // Two replies in one coalesced frame: both reach the owner.
    daemon.socket.deliver({ type: 'reply', rid: 1, ok: true, value: 1 }, { type: 'reply', rid: 2, ok: true, value: 2 });
    expect(messages.map((m) => m.type === 'reply' && m.rid)).toEqual([1, 2]);
    expect(conn.send({ type: 'status', rid: 3 })).toBe(true);
    await daemon.until(() => daemon.socket.received.length === 2);
    expect(daemon.socket.received[1]).toEqual({ type: 'status', rid: 3 });
    await conn.close();
  });

  it('rejects open with AuthError when the daemon refuses the token (close 1008)', async () => {
    const daemon = new FakeDaemon();
    daemon.refuseHello = { code: 1008, reason: 'bad token' };
    const { conn } = connection(daemon);
    const err = await conn.open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ code: 'E_AUTH' });
  });

  it('after an unexpected close: tells the owner down, refuses sends, reconnects and tells up again', async () => {
    const daemon = new FakeDaemon();
    const { conn, events, errors } = connection(daemon);
    await conn.open();
    daemon.socket.drop(1006);
    await daemon.until(() => events.includes('down'));
    expect(errors[0]).toBeInstanceOf(ConnectionError);
    expect(conn.send({ type: 'status', rid: 1 })).toBe(false);
    await daemon.until(() => events.includes('up again'));
    expect(daemon.sockets).toHaveLength(2);
    expect(daemon.socket.received[0]).toMatchObject({ type: 'hello', instance: 'inst-1' });
    expect(conn.send({ type: 'status', rid: 2 })).toBe(true);
    await conn.close();
  });

  it('goes offline with E_CONNECTION once it could not reconnect within reconnectTimeoutMs, and revive() tries again', async () => {
    const daemon = new FakeDaemon();
    const { conn, events, errors } = connection(daemon, 0);
    await conn.open();
    daemon.accepting = false;
    daemon.socket.drop(1006);
    await daemon.until(() => events.includes('expired'));
    expect(events).toEqual(['up', 'down', 'expired']);
    expect(errors[1]).toBeInstanceOf(ConnectionError);
    expect(errors[1]!.message).toMatch(/could not reconnect within 0 ms/);
    expect(conn.offline).toBe(true);
    const tried = daemon.sockets.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(daemon.sockets).toHaveLength(tried);
    daemon.accepting = true;
    conn.revive();
    await daemon.until(() => events.includes('up again'));
    expect(conn.offline).toBe(false);
    expect(conn.send({ type: 'status', rid: 1 })).toBe(true);
    await conn.close();
  });

  it('names a daemon that closed with E_SHUTTING_DOWN when no daemon came back in time', async () => {
    const daemon = new FakeDaemon();
    const { conn, events, errors } = connection(daemon, 0);
    await conn.open();
    daemon.accepting = false;
    daemon.socket.drop(1012, 'E_SHUTTING_DOWN');
    await daemon.until(() => events.includes('expired'));
    expect(errors[0]).toMatchObject({ code: 'E_SHUTTING_DOWN' });
    expect(errors[1]).toMatchObject({ code: 'E_SHUTTING_DOWN' });
    expect(errors[1]!.message).toMatch(/shut down \(daemon stop\) and no daemon answered within 0 ms/);
    await conn.close();
  });

  it('a close with a code as its reason fails for good with that code (no reconnect)', async () => {
    const daemon = new FakeDaemon();
    const { conn, events, errors } = connection(daemon);
    await conn.open();
    daemon.socket.drop(1008, 'E_PROTOCOL_VERSION');
    await daemon.until(() => events.includes('fatal'));
    expect(errors.at(-1)).toMatchObject({ code: 'E_PROTOCOL_VERSION' });
    expect(daemon.sockets).toHaveLength(1);
    await conn.close();
  });

  it('opens with the largest frame limit a daemon can announce, and holds frames to the welcome limit as ws would', async () => {
    const daemon = new FakeDaemon();
    daemon.welcome = { ...daemon.welcome, maxPayload: 128 * 1024 };
    const { conn, events, messages, errors } = connection(daemon);
    await conn.open();
    expect(daemon.options[0]).toMatchObject({ maxPayload: LARGEST_MAX_PAYLOAD });
    daemon.socket.deliver(reply(1, 100 * 1024));
    expect(messages).toHaveLength(1);
    // Past the limit: the frame and whatever follows on that socket are refused, the socket closes with 1009.
    const first = daemon.socket;
    first.deliver(reply(2, 130 * 1024));
    first.deliver(reply(3, 1));
    expect(messages).toHaveLength(1);
    expect(first.closedWith).toBe(1009);
    await daemon.until(() => events.includes('up again'));
    expect(errors[0]).toBeInstanceOf(ConnectionError);
    expect(errors[0]!.message).toMatch(/Max payload size exceeded/);
    await conn.close();
  });

  it('takes frames past the default limit once the welcome announces a larger one, and not before', async () => {
    const big = reply(1, DEFAULT_MAX_PAYLOAD + 1024);
    const larger = new FakeDaemon();
    larger.welcome = { ...larger.welcome, maxPayload: 2 * DEFAULT_MAX_PAYLOAD };
    const a = connection(larger);
    await a.conn.open();
    larger.socket.deliver(big);
    expect(a.messages).toHaveLength(1);
    await a.conn.close();

    const plain = new FakeDaemon();
    const b = connection(plain);
    await b.conn.open();
    plain.socket.deliver(big);
    expect(b.messages).toHaveLength(0);
    expect(plain.socket.closedWith).toBe(1009);
    await b.conn.close();
  });
});

describe('Connection over a list of daemons', () => {
  const A = 'ws://a:7420';
  const B = 'ws://b:7420';
  const C = 'ws://c:7420';

  it('opens on the first URL that answers', async () => {
    const daemon = new FakeDaemon();
    daemon.down.add(A);
    const { conn } = connection(daemon, 30_000, [A, B, C]);
    await conn.open();
    expect(daemon.urls).toEqual([A, B]);
    expect(conn.url).toBe(B);
    await conn.close();
  });

  it('when none answers, rejects with one E_CONNECTION naming each; a refused token is not routed around', async () => {
    const daemon = new FakeDaemon();
    daemon.accepting = false;
    const err = await connection(daemon, 30_000, [A, B])
      .conn.open()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/any corepool daemon of ws:\/\/a:7420, ws:\/\/b:7420/);

    const refusing = new FakeDaemon();
    refusing.refuseHello = { code: 1008, reason: 'bad token' };
    const auth = await connection(refusing, 30_000, [A, B])
      .conn.open()
      .catch((e: unknown) => e);
    expect(auth).toBeInstanceOf(AuthError);
    expect(refusing.urls).toEqual([A]);
  });

  it('after a drop, tries the next URL first, then round the list to the lost one', async () => {
    const daemon = new FakeDaemon();
    const { conn, events } = connection(daemon, 30_000, [A, B, C]);
    await conn.open();
    daemon.down.add(A).add(B).add(C);
    daemon.socket.drop(1006);
    // A whole round at once (B, C, then A again), then rounds with the backoff between them.
    await daemon.until(() => daemon.urls.length >= 5);
    expect(daemon.urls.slice(0, 5)).toEqual([A, B, C, A, B]);
    daemon.down.delete(C);
    await daemon.until(() => events.includes('up again'));
    expect(conn.url).toBe(C);
    expect(events).toEqual(['up', 'down', 'up again']);
    await conn.close();
  });

  it('a restart close (1012 E_SHUTTING_DOWN) moves to the next daemon', async () => {
    const daemon = new FakeDaemon();
    const { conn, events, errors } = connection(daemon, 30_000, [A, B]);
    await conn.open();
    daemon.socket.drop(1012, 'E_SHUTTING_DOWN');
    await daemon.until(() => events.includes('up again'));
    expect(errors[0]).toMatchObject({ code: 'E_SHUTTING_DOWN' });
    expect(daemon.urls).toEqual([A, B]);
    expect(conn.url).toBe(B);
    await conn.close();
  });

  it('gives up once no daemon of the list answered within reconnectTimeoutMs, naming them', async () => {
    const daemon = new FakeDaemon();
    const { conn, events, errors } = connection(daemon, 0, [A, B]);
    await conn.open();
    daemon.accepting = false;
    daemon.socket.drop(1006);
    await daemon.until(() => events.includes('expired'));
    expect(errors.at(-1)!.message).toMatch(
      /lost the daemon at ws:\/\/a:7420 and could not reconnect to any of ws:\/\/a:7420, ws:\/\/b:7420/,
    );
    await conn.close();
  });
});

describe('reconnectDelay', () => {
  it('one daemon: the backoff before every attempt; a list: a round at once, the backoff between rounds', () => {
    expect(reconnectDelay(0, 1)).toBeGreaterThan(0);
    expect([0, 1, 2].map((k) => reconnectDelay(k, 3))).toEqual([0, 0, 0]);
    expect(reconnectDelay(3, 3)).toBeGreaterThan(0);
    expect(reconnectDelay(4, 3)).toBe(0);
    expect(reconnectDelay(6, 3)).toBeGreaterThan(0);
  });
});

/** A reply carrying `bytes` of binary value. */
function reply(rid: number, bytes: number): ServerMessage {
  return { type: 'reply', rid, ok: true, value: new Uint8Array(bytes) };
}

describe('Connection while guarded (a lock held)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A connection to a daemon that pings every 8 s (checks every second), guarded while `held.on`. */
  async function guardedLink(): Promise<{ daemon: FakeDaemon; events: string[]; held: { on: boolean } }> {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const daemon = new FakeDaemon();
    daemon.welcome = { ...daemon.welcome, heartbeatMs: 8_000 };
    const held = { on: false };
    const { conn, events } = connection(daemon, 30_000, ['ws://fake'], () => held.on);
    await conn.open();
    return { daemon, events, held };
  }

  /** Moves the clock by `ms`, a check at a time, letting pongs (microtasks) in between, while the daemon's own pings keep coming. */
  async function pass(daemon: FakeDaemon, ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 1_000) {
      daemon.socket.emit('ping');
      await vi.advanceTimersByTimeAsync(1_000);
    }
  }

  it('pings only while guarded, and keeps a link whose pings are answered', async () => {
    const { daemon, events, held } = await guardedLink();
    await pass(daemon, 10_000);
    expect(daemon.socket.pings).toBe(0);
    held.on = true;
    await pass(daemon, 40_000);
    expect(daemon.socket.pings).toBeGreaterThan(30);
    expect(events).toEqual(['up']);
  });

  it('drops a link none of its pings crossed for half an interval, though the daemon still pings it', async () => {
    const { daemon, events, held } = await guardedLink();
    held.on = true;
    await pass(daemon, 3_000);
    daemon.socket.answersPings = false;
    await pass(daemon, 3_000);
    expect(events).toEqual(['up']);
    await pass(daemon, 3_000);
    expect(events).toEqual(['up', 'down']);
  });

  it('does not count a late check (its own thread was busy) against the link', async () => {
    const { daemon, events, held } = await guardedLink();
    held.on = true;
    await pass(daemon, 3_000);
    // Ten seconds with the thread busy: no check ran, and the pong of the last ping waits unread.
    vi.setSystemTime(Date.now() + 10_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(events).toEqual(['up']);
    await pass(daemon, 10_000);
    expect(events).toEqual(['up']);
  });
});
