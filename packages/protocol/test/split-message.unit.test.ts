/**
 * Split messages: a message whose last field is a large payload is written as
 * its head and the payload's own bytes, which together decode to the message;
 * anything else is encodeMessage's one buffer, byte for byte. And the frame
 * heads that carry them: RFC 6455 headers of every length form.
 */
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../src/codec.js';
import { SPLIT_PAYLOAD_BYTES, SplitMessage, encodeMessageSplit } from '../src/split-message.js';
import { wsFrameHead } from '../src/ws-frame.js';

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31) & 0xff);

describe('encodeMessageSplit', () => {
  it.each([SPLIT_PAYLOAD_BYTES, 65_535, 65_536, 1_000_003])(
    'splits before a last payload of %i bytes, and the two decode to the message',
    (n) => {
      const m = {
        type: 'chunk.result',
        id: 7,
        start: 3,
        count: 2,
        errors: [{ code: 'E_TASK', index: 4, message: 'x' }],
        ms: 1.5,
        payload: bytes(n),
      };
      const out = encodeMessageSplit(m);
      expect(out).toBeInstanceOf(SplitMessage);
      const split = out as SplitMessage;
      expect(split.tail).toBe(m.payload); // the payload's own bytes, not a copy
      const whole = Buffer.concat([split.head, split.tail]);
      expect(split.length).toBe(whole.length);
      const back = decodeMessage(whole) as typeof m;
      expect({ ...back, payload: undefined }).toEqual({ ...m, payload: undefined });
      expect(same(back.payload, m.payload)).toBe(true);
    },
  );

  it('writes encodeMessage bytes for a small payload, a payload not last, a message without one', () => {
    const small = { t: 'done', key: 1, payload: bytes(SPLIT_PAYLOAD_BYTES - 1) };
    const notLast = { t: 'done', payload: bytes(SPLIT_PAYLOAD_BYTES * 2), key: 1 };
    const none = { type: 'reply', rid: 1, ok: true, value: bytes(SPLIT_PAYLOAD_BYTES * 2) };
    const notBytes = { t: 'x', payload: 'p'.repeat(SPLIT_PAYLOAD_BYTES * 2) };
    for (const m of [small, notLast, none, notBytes]) {
      const out = encodeMessageSplit(m);
      expect(out).toBeInstanceOf(Uint8Array);
      expect(same(out as Uint8Array, encodeMessage(m))).toBe(true);
    }
  });

  it('does not take a nested payload that ends the message for its own', () => {
    // The bytes end with `payload` and an empty bin, the nested map's: the top-level payload is not last.
    const m = { t: 'x', payload: bytes(SPLIT_PAYLOAD_BYTES * 2), inner: { payload: new Uint8Array(0) } };
    const out = encodeMessageSplit(m);
    expect(out).toBeInstanceOf(Uint8Array);
    expect(same(out as Uint8Array, encodeMessage(m))).toBe(true);
  });
});

describe('wsFrameHead', () => {
  /** Reads a frame header (RFC 6455 5.2): its payload length, mask key, and where the payload starts. */
  function header(buf: Uint8Array): { fin: boolean; opcode: number; n: number; mask: number[] | undefined; at: number } {
    const fin = (buf[0]! & 0x80) !== 0;
    const opcode = buf[0]! & 0x0f;
    const masked = (buf[1]! & 0x80) !== 0;
    let n = buf[1]! & 0x7f;
    let at = 2;
    const view = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
    if (n === 126) {
      n = view.readUInt16BE(2);
      at = 4;
    } else if (n === 127) {
      n = view.readUInt32BE(2) * 2 ** 32 + view.readUInt32BE(6);
      at = 10;
    }
    const mask = masked ? Array.from(buf.subarray(at, at + 4)) : undefined;
    return { fin, opcode, n, mask, at: masked ? at + 4 : at };
  }

  it.each([5, 125, 126, 65_535, 65_536, 5_000_000])('writes a binary frame header of %i payload bytes, then the lead', (n) => {
    const lead = bytes(Math.min(n, 40));
    for (const zeroMask of [false, true]) {
      const buf = wsFrameHead(n, lead, zeroMask);
      const h = header(buf);
      expect(h).toMatchObject({ fin: true, opcode: 2, n, mask: zeroMask ? [0, 0, 0, 0] : undefined });
      // The shortest length form (RFC 6455 5.2: the minimal number of bytes MUST be used).
      expect(h.at - (zeroMask ? 4 : 0)).toBe(n < 126 ? 2 : n <= 65_535 ? 4 : 10);
      expect(same(buf.subarray(h.at), lead)).toBe(true);
    }
  });
});
