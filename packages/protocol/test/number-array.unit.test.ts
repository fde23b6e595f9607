/** Arrays of numbers written and read by hand: byte for byte what msgpackr's data codec writes and reads. */
import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeData, encodeData } from '../src/codec.js';
import { encodeCheckedData } from '../src/internal.js';
import { decodeNumbers, encodeNumbers } from '../src/number-array.js';

// The data codec's options (codec.ts), made here so that the comparison is with msgpackr itself.
const options = { structuredClone: true, moreTypes: true, useBigIntExtension: true };
const packr = new Packr({ ...options });
const unpackr = new Unpackr({ ...options });

/** Every width's edges, either sign, and the numbers that are not 32-bit integers. */
const EDGES = [
  0,
  1,
  0x1f,
  0x20,
  0x3f,
  0x40,
  0x7f,
  0x80,
  0xff,
  0x100,
  0xffff,
  0x10000,
  0xffffffff,
  0x100000000,
  -1,
  -0x1f,
  -0x20,
  -0x21,
  -0x80,
  -0x81,
  -0x8000,
  -0x8001,
  -0x80000000,
  -0x80000001,
  -0,
  0.5,
  -1.25,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.EPSILON,
  NaN,
  Infinity,
  -Infinity,
  2 ** 53 + 2,
];

/** A deterministic generator, so that a failure names arrays that can be made again. */
function* numbers(seed: number, count: number): Generator<number> {
  let s = seed;
  const next = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  for (let i = 0; i < count; i++) {
    const r = next();
    switch (r % 5) {
      case 0:
        yield EDGES[next() % EDGES.length]!;
        break;
      case 1:
        yield next() >> (next() % 32); // signed, every width
        break;
      case 2:
        yield next() >>> (next() % 32); // unsigned, every width
        break;
      case 3:
        yield (next() - 2 ** 31) / (next() + 1); // fractions
        break;
      default:
        yield next() * 2 ** 20 + next(); // integers past 32 bits
    }
  }
}

describe('arrays of numbers', () => {
  it('are written as msgpackr writes them, at every array length header', () => {
    const arrays: number[][] = [[], EDGES, [...numbers(1, 15)], [...numbers(2, 16)], [...numbers(3, 0xffff)], [...numbers(4, 0x10000)]];
    for (let seed = 10; seed < 200; seed++) arrays.push([...numbers(seed, seed % 40)]);
    for (const a of arrays) {
      const mine = encodeNumbers(a)!;
      expect(Buffer.from(mine).equals(packr.pack(a)), `length ${a.length}`).toBe(true);
      expect(Buffer.from(encodeData(a)).equals(mine)).toBe(true);
      expect(Buffer.from(encodeCheckedData(a)).equals(mine)).toBe(true);
    }
  });

  it('are read as msgpackr reads them, from its bytes and from a slice of a larger buffer', () => {
    for (const a of [EDGES, [...numbers(5, 1000)], [...numbers(6, 70_000)]]) {
      const bytes = packr.pack(a);
      const read = decodeNumbers(bytes)!;
      expect(read).toEqual(unpackr.unpack(bytes));
      expect(Object.is(read[EDGES.indexOf(-0)], 0) || a !== EDGES).toBe(true); // -0 travels as 0, as with msgpackr
      const inside = new Uint8Array(bytes.length + 7);
      inside.set(bytes, 3);
      expect(decodeNumbers(inside.subarray(3, 3 + bytes.length))).toEqual(read);
      expect(decodeData(bytes)).toEqual(read);
    }
  });

  it('agree with msgpackr on any array of doubles and integers, and on any bytes they accept', () => {
    const number = fc.oneof(fc.double(), fc.integer(), fc.integer({ min: -0x8001, max: 0x10001 }), fc.constantFrom(...EDGES));
    fc.assert(
      fc.property(fc.array(number, { maxLength: 40 }), (a) => {
        const mine = encodeNumbers(a)!;
        expect(Buffer.from(mine).equals(packr.pack(a))).toBe(true);
        const read = decodeNumbers(mine)!;
        const theirs = unpackr.unpack(mine) as number[];
        expect(read.length).toBe(theirs.length);
        read.forEach((v, i) => expect(Object.is(v, theirs[i])).toBe(true));
      }),
      { numRuns: 2000 },
    );
    // Any bytes: read here only when msgpackr reads them to the same numbers.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), fc.integer({ min: 0x90, max: 0x9f }), (body, head) => {
        const bytes = Buffer.concat([Buffer.from([head]), body]);
        const read = decodeNumbers(bytes);
        if (read === undefined) return;
        const theirs = unpackr.unpack(bytes) as number[];
        expect(read.length).toBe(theirs.length);
        read.forEach((v, i) => expect(Object.is(v, theirs[i])).toBe(true));
      }),
      { numRuns: 5000 },
    );
  });

  it('leave anything else to msgpackr', () => {
    const others = [[1, 'x'], [1, undefined], [null], [1n], [{ a: 1 }], [[1]], [true], new Array(3)];
    for (const [i, v] of others.entries()) {
      expect(encodeNumbers(v), `case ${i}`).toBeUndefined();
      expect(decodeNumbers(packr.pack(v))).toBeUndefined();
      expect(decodeData(encodeData(v))).toEqual(v);
    }
    // Bytes that are not one whole array of numbers: truncated, trailing, a count larger than the bytes, another value.
    const ok = packr.pack([1, 300, -5, 70000, 1.5]);
    for (let cut = 0; cut < ok.length; cut++) expect(decodeNumbers(ok.subarray(0, cut))).toBeUndefined();
    expect(decodeNumbers(Buffer.concat([ok, Buffer.from([1])]))).toBeUndefined();
    expect(decodeNumbers(Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff, 1]))).toBeUndefined();
    expect(decodeNumbers(packr.pack({ a: 1 }))).toBeUndefined();
    expect(decodeNumbers(packr.pack('text'))).toBeUndefined();
    // 0x40-0x7f are records' ids to msgpackr's reader: never read here as numbers.
    expect(decodeNumbers(Uint8Array.from([0x91, 0x40]))).toBeUndefined();
  });

  it('read each item as msgpackr would when a getter answers differently the second time: never wrong bytes, never NaN', () => {
    const answers: [string, unknown, unknown][] = [
      ['a number, then a string', 1.5, 'hello'],
      ['a number, then an object', 1.5, { a: 1 }],
      ['a number, then undefined', 1.5, undefined],
      ['a number, then null', 2, null],
      ['a number, then a bigint', 2, 5n],
      ['63, then 64 (a wider int)', 63, 64],
      ['1.5, then 1 (a narrower one)', 1.5, 1],
      ['1, then 2 ** 40', 1, 2 ** 40],
    ];
    for (const [name, first, later] of answers) {
      let reads = 0;
      const a: unknown[] = [0, 0];
      Object.defineProperty(a, 1, { get: () => (reads++ === 0 ? first : later), enumerable: true });
      expect(decodeData(encodeData(a)), name).toEqual([0, later]);
    }
    // The array shrinks under the writer (a getter sets its length): as msgpackr reads it then.
    const shrinking: unknown[] = [0, 1.5, 2.5];
    let calls = 0;
    Object.defineProperty(shrinking, 0, {
      get: () => {
        if (calls++ === 1) shrinking.length = 1;
        return 1;
      },
      enumerable: true,
      configurable: true,
    });
    const out = decodeData(encodeData(shrinking)) as unknown[];
    expect(out.some((v) => typeof v === 'number' && Number.isNaN(v))).toBe(false);
  });

  it('still fail an uncloneable array with E_NOT_CLONEABLE, and a throwing element read as unreadable', () => {
    expect(() => encodeData([1, 2, () => 3], 'a chunk', 1)).toThrow(expect.objectContaining({ code: 'E_NOT_CLONEABLE' }));
    const trap = new Proxy([1, 2, 3], {
      get(target, key, receiver) {
        if (key === '1') throw new Error('no reading this');
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    expect(() => encodeData(trap)).toThrow(
      expect.objectContaining({ code: 'E_NOT_CLONEABLE', message: expect.stringContaining('cannot be read') }),
    );
  });
});
