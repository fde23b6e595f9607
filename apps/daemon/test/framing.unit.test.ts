/**
 * Frames to messages, in the style of ws's Receiver tests: bytes in, what
 * the connection is asked to do out (a fake host records it).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode, MAX_BATCH_MESSAGES, encodeMessage, type CorepoolError } from '@corepool/protocol/internal';
import { Framing, REFUSED, type Addressee, type FramingHost } from '../src/primary/framing.js';
import type { RefusedFrame } from '../src/primary/ws-receiver.js';

class Host implements FramingHost {
  authed = false;
  readonly calls: unknown[] = [];
  notHello(e: CorepoolError): void {
    this.calls.push(['notHello', e.code]);
  }
  answer(to: Addressee | undefined, e: CorepoolError): void {
    this.calls.push(['answer', to ?? 'connection', e.code]);
  }
  refuse(e: CorepoolError, code: number): void {
    this.calls.push(['refuse', e.code, code]);
  }
  close(code: number, reason: string): void {
    this.calls.push(['close', code, reason]);
  }
}

const frame = (m: unknown): Uint8Array => encodeMessage(m);
const refusedFrame = (code: string): RefusedFrame => Object.assign(new RangeError(`ws says ${code}`), { code });

let host: Host;
let framing: Framing;
beforeEach(() => {
  host = new Host();
  framing = new Framing(host);
});

describe('Framing before authentication', () => {
  it('one message per binary frame', () => {
    expect(framing.decode(frame({ type: 'status', rid: 1 }), true)).toEqual({ type: 'status', rid: 1 });
    expect(host.calls).toEqual([]);
  });

  it('a coalesced frame, a text frame or bytes that are not msgpack fail the authentication', () => {
    expect(framing.decode(frame([{ type: 'status', rid: 1 }]), true)).toBe(REFUSED);
    expect(framing.decode(Buffer.from('hello'), false)).toBe(REFUSED);
    expect(framing.decode(Uint8Array.of(0xdb, 0xff), true)).toBe(REFUSED); // a str32 cut short
    expect(host.calls).toEqual([
      ['notHello', 'E_BAD_MESSAGE'],
      ['notHello', 'E_BAD_MESSAGE'],
      ['notHello', 'E_BAD_MESSAGE'],
    ]);
  });

  it('a message that is not one of the protocol fails the authentication', () => {
    expect(framing.parse({ type: 'hello' })).toBeUndefined();
    expect(host.calls).toEqual([['notHello', 'E_BAD_MESSAGE']]);
  });
});

describe('Framing after authentication', () => {
  beforeEach(() => {
    host.authed = true;
  });

  it(`a frame may hold 1 to ${MAX_BATCH_MESSAGES} messages`, () => {
    const two = [
      { type: 'status', rid: 1 },
      { type: 'status', rid: 2 },
    ];
    expect(framing.decode(frame(two), true)).toEqual(two);
    expect(framing.decode(frame([]), true)).toBe(REFUSED);
    const tooMany = Array.from({ length: MAX_BATCH_MESSAGES + 1 }, (_, rid) => ({ type: 'status', rid }));
    expect(framing.decode(frame(tooMany), true)).toBe(REFUSED);
    expect(host.calls).toEqual([
      ['answer', 'connection', 'E_BAD_MESSAGE'],
      ['answer', 'connection', 'E_BAD_MESSAGE'],
    ]);
  });

  it('a malformed message is answered where its sender waits: its request, its batch, else the connection', () => {
    expect(framing.parse({ type: 'state', rid: 7, op: 'eval', name: 'x' })).toBeUndefined();
    expect(framing.parse({ type: 'batch.chunk', id: 3, start: -1 })).toBeUndefined();
    expect(framing.parse({ type: 'status', rid: -1 })).toBeUndefined();
    expect(framing.parse([1, 2])).toBeUndefined();
    expect(host.calls).toEqual([
      ['answer', { rid: 7 }, 'E_BAD_MESSAGE'],
      ['answer', { id: 3 }, 'E_BAD_MESSAGE'],
      ['answer', 'connection', 'E_BAD_MESSAGE'],
      ['answer', 'connection', 'E_BAD_MESSAGE'],
    ]);
  });

  it('the 17th bad frame disconnects the client with 1007 E_BAD_MESSAGE', () => {
    for (let i = 0; i < 16; i++) framing.decode(Buffer.from('text'), false);
    expect(host.calls.filter((c) => (c as unknown[])[0] === 'close')).toEqual([]);
    framing.decode(Buffer.from('text'), false);
    expect(host.calls.at(-1)).toEqual(['close', CloseCode.BAD_DATA, ErrorCode.E_BAD_MESSAGE]);
  });
});

describe('frames ws refused', () => {
  it('too big: E_TOO_LARGE and 1009; bad UTF-8: E_BAD_MESSAGE and 1007; anything else: E_BAD_MESSAGE and 1002', () => {
    framing.refused(refusedFrame('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'));
    framing.refused(refusedFrame('WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH'));
    framing.refused(refusedFrame('WS_ERR_TOO_MANY_BUFFERED_PARTS'));
    framing.refused(refusedFrame('WS_ERR_INVALID_UTF8'));
    framing.refused(refusedFrame('WS_ERR_INVALID_OPCODE'));
    expect(host.calls).toEqual([
      ['refuse', 'E_TOO_LARGE', CloseCode.TOO_BIG],
      ['refuse', 'E_TOO_LARGE', CloseCode.TOO_BIG],
      ['refuse', 'E_TOO_LARGE', CloseCode.TOO_BIG],
      ['refuse', 'E_BAD_MESSAGE', CloseCode.BAD_DATA],
      ['refuse', 'E_BAD_MESSAGE', CloseCode.PROTOCOL_ERROR],
    ]);
  });
});
