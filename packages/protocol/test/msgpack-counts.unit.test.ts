/**
 * countsFit: an array or map declaring more elements than the bytes after its
 * header could hold is refused before msgpackr allocates them; everything a
 * codec writes passes, and bytes that are merely cut short or invalid are left
 * to the decoder (which throws without allocating).
 */
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { countsFit } from '../src/msgpack-counts.js';
import { encodeData, encodeMessage } from '../src/codec.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

describe('countsFit', () => {
  it('refuses arrays and maps declaring more elements than bytes are left, at any depth', () => {
    expect(countsFit(bytes(0xdd, 0x01, 0xff, 0xff, 0xff, 0x01))).toBe(false);
    expect(countsFit(bytes(0xdc, 0x00, 0x03, 0x01, 0x02))).toBe(false);
    expect(countsFit(bytes(0xdf, 0x00, 0x00, 0x00, 0x02, 0x01, 0x02, 0x03))).toBe(false);
    expect(countsFit(bytes(0xde, 0x00, 0x01, 0x01))).toBe(false);
    // Inside a map, after a string and a bin.
    expect(countsFit(bytes(0x82, 0xa1, 0x61, 0xc4, 0x02, 0xdd, 0xdd, 0xa1, 0x62, 0xdd, 0x10, 0x00, 0x00, 0x00, 0x01))).toBe(false);
    // Exactly enough bytes: fine.
    expect(countsFit(bytes(0xdc, 0x00, 0x03, 0x01, 0x02, 0x03))).toBe(true);
  });

  it('passes everything the codecs write, 0xdd bytes inside strings, bins and numbers included', () => {
    const packr = new Packr({ structuredClone: true, moreTypes: true, useBigIntExtension: true });
    const samples: unknown[] = [
      { type: 'state', rid: 0xdd, op: 'value.add', name: '\u00dd\u00dd', a: Uint8Array.from([0xdd, 0xdd, 0xdd]) },
      Array.from({ length: 70_000 }, (_, i) => i),
      { big: 2n ** 100n, d: new Date(0), m: new Map([[1, { x: [1, 'two', null] }]]), s: new Set([0xdddddddd]) },
      new Float64Array([1.5, -0xdd]),
      'x'.repeat(70_000),
    ];
    for (const v of samples) {
      expect(countsFit(packr.pack(v))).toBe(true);
      expect(countsFit(encodeData(v))).toBe(true);
    }
    expect(countsFit(encodeMessage({ type: 'hello', v: 1, token: '\u00dd'.repeat(40), name: 'n' }))).toBe(true);
  });

  it('leaves bytes cut short or invalid to the decoder', () => {
    expect(countsFit(bytes(0xdd, 0x01))).toBe(true);
    expect(countsFit(bytes(0xc1))).toBe(true);
    expect(countsFit(bytes())).toBe(true);
  });
});
