/**
 * A connection's authentication against a fake host: the frame limit before
 * and after the hello, the token, the protocol version and the deadline
 * (fake timers).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BadMessageError, CloseCode, PROTOCOL_VERSION, type ClientMessage, type CorepoolError } from '@corepool/protocol/internal';
import { Authentication, type AuthenticationHost } from '../src/primary/authentication.js';

const TOKEN = 't'.repeat(43);
const OPTS = { token: TOKEN, maxPayload: 8 * 1024 * 1024, preAuthMaxPayload: 4096, authDeadlineMs: 500 };

class Host implements AuthenticationHost {
  readonly limits: number[] = [];
  readonly refused: { code: string; message: string; close: number }[] = [];
  setFrameLimit(bytes: number): void {
    this.limits.push(bytes);
  }
  refuse(e: CorepoolError, close: number): void {
    this.refused.push({ code: e.code, message: e.message, close });
  }
}

const hello = (over: Partial<Extract<ClientMessage, { type: 'hello' }>> = {}): ClientMessage => ({
  type: 'hello',
  v: PROTOCOL_VERSION,
  token: TOKEN,
  ...over,
});

let host: Host;
let auth: Authentication;
beforeEach(() => {
  vi.useFakeTimers();
  host = new Host();
  auth = new Authentication(OPTS, host);
});
afterEach(() => {
  auth.end();
  vi.useRealTimers();
});

describe('Authentication', () => {
  it('frames are held to the pre-auth limit until a good hello, then to maxPayload', () => {
    expect(host.limits).toEqual([OPTS.preAuthMaxPayload]);
    expect(auth.authed).toBe(false);
    expect(auth.hello(hello({ name: 'n' }))).toMatchObject({ type: 'hello', name: 'n' });
    expect(auth.authed).toBe(true);
    expect(host.limits).toEqual([OPTS.preAuthMaxPayload, OPTS.maxPayload]);
    // The deadline no longer applies.
    vi.advanceTimersByTime(10 * OPTS.authDeadlineMs);
    expect(host.refused).toEqual([]);
  });

  it('a wrong token: E_AUTH, close 1008, the pre-auth limit stays', () => {
    expect(auth.hello(hello({ token: 'x'.repeat(43) }))).toBeUndefined();
    expect(host.refused).toEqual([{ code: 'E_AUTH', message: 'wrong token', close: CloseCode.POLICY }]);
    expect(auth.authed).toBe(false);
    expect(host.limits).toEqual([OPTS.preAuthMaxPayload]);
  });

  it("a token shorter than any daemon's: E_AUTH saying so; an empty one too", () => {
    expect(auth.hello(hello({ token: 'abc' }))).toBeUndefined();
    expect(host.refused).toEqual([
      { code: 'E_AUTH', message: "wrong token: it has 3 characters, and a daemon's token has at least 16", close: CloseCode.POLICY },
    ]);
    const other = new Host();
    const second = new Authentication(OPTS, other);
    expect(second.hello(hello({ token: '' }))).toBeUndefined();
    second.end();
    expect(other.refused[0]?.message).toBe("wrong token: it has 0 characters, and a daemon's token has at least 16");
  });

  it('any other first message: E_AUTH naming it', () => {
    expect(auth.hello({ type: 'status', rid: 1 })).toBeUndefined();
    expect(host.refused).toEqual([{ code: 'E_AUTH', message: 'the first message must be hello, not status', close: CloseCode.POLICY }]);
  });

  it('a first message that does not parse: E_AUTH with the reason', () => {
    auth.notHello(new BadMessageError('not msgpack'));
    expect(host.refused).toEqual([
      { code: 'E_AUTH', message: 'the first message must be hello with a token (not msgpack)', close: CloseCode.POLICY },
    ]);
  });

  it('another protocol version: E_PROTOCOL_VERSION, close 1002', () => {
    expect(auth.hello(hello({ v: PROTOCOL_VERSION + 1 }))).toBeUndefined();
    expect(host.refused).toMatchObject([{ code: 'E_PROTOCOL_VERSION', close: CloseCode.PROTOCOL_ERROR }]);
    expect(auth.authed).toBe(false);
  });

  it('no hello within the deadline: E_AUTH, close 1008', () => {
    vi.advanceTimersByTime(OPTS.authDeadlineMs - 1);
    expect(host.refused).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(host.refused).toEqual([{ code: 'E_AUTH', message: 'no hello within the authentication deadline', close: CloseCode.POLICY }]);
  });

  it('a connection that closes first is not refused at the deadline', () => {
    auth.end();
    vi.advanceTimersByTime(10 * OPTS.authDeadlineMs);
    expect(host.refused).toEqual([]);
  });
});
