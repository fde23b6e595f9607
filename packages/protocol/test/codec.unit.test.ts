/** The codecs: data round-trips like structured clone; control frames decode strictly. */
import { Packr } from 'msgpackr';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { findUncloneable } from '../src/cloneable.js';
import { VersionReply, decodeData, decodeMessage, encodeData, encodeMessage, encodePairs, encodeReply } from '../src/codec.js';
import { MAX_DATA_DEPTH } from '../src/limits.js';

describe('data codec', () => {
  it('round-trips structured-clone types', () => {
    const v = {
      big: -(2n ** 70n),
      date: new Date(0),
      bytes: new Uint8Array([1, 2]),
      i32: new Int32Array([-1, 7]),
      map: new Map<unknown, unknown>([
        [{ k: 1 }, 'obj key'],
        ['s', new Set([1])],
      ]),
      nested: [null, undefined, true, 1.5, 'x'],
    };
    expect(decodeData(encodeData(v))).toEqual(v);
  });

  it('refuses functions, symbols and promises with E_NOT_CLONEABLE and a path', () => {
    expect(() => encodeData({ a: [1, { f: () => 1 }] })).toThrow(
      expect.objectContaining({ code: 'E_NOT_CLONEABLE', message: expect.stringContaining('$.a[1].f is a function') }),
    );
    expect(() => encodeData(Symbol('x'))).toThrow(expect.objectContaining({ code: 'E_NOT_CLONEABLE' }));
    expect(() => encodeData(new Map([[1, Promise.resolve()]]))).toThrow(expect.objectContaining({ code: 'E_NOT_CLONEABLE' }));
  });

  it('refuses what msgpack would silently turn into something else, and says what to send', () => {
    function* gen(): Generator<number> {
      yield 1;
    }
    const cases: [unknown, string][] = [
      [gen(), '$ is a Generator'],
      [{ p: new Proxy({}, {}) }, '$.p is a Proxy'],
      [[new SharedArrayBuffer(4)], '$[0] is a SharedArrayBuffer'],
      [new Blob(['x']), '$ is a Blob'],
      [new URL('http://x/'), 'url.href'],
      [Object(1), 'x.valueOf()'],
      [JSON.parse('{"a": {"__proto__": 1}}'), '$.a has an own property named "__proto__"'],
      [new Map([[1, 2]]).keys(), '$ is a Map Iterator'],
      // msgpackr wrote a Map subclass as an empty object, and a typed array subclass as bytes it cannot read back.
      [
        { m: new (class Registry extends Map<number, number> {})([[1, 2]]) },
        '$.m is a subclass of Map (Registry), which cannot be sent as it is: send new Map(x)',
      ],
      [[new (class Bytes extends Uint8Array {})(2)], '$[0] is a subclass of Uint8Array (Bytes)'],
      [new (class Floats extends Float64Array {})(1), 'send new Float64Array(x)'],
      // msgpackr sent a class instance with toJSON() as what that returned (a function there as undefined).
      [
        [
          new (class Decimal {
            v = 1.5;
            toJSON(): string {
              return String(this.v);
            }
          })(),
        ],
        '$[0] is an object of a class (Decimal) with a toJSON() method, which cannot be sent as it is: send { ...x }',
      ],
      [{ d: Object.create({ toJSON: () => () => 1 }) as object }, '$.d is an object of a class with a toJSON() method'],
      // The path through each kind of container, made only once something is refused.
      [{ s: new Set([1, { f: () => 1 }]) }, '$.s<item 1>.f is a function'],
      [[new Map<unknown, unknown>([[{ k: Symbol('k') }, 1]])], '$[0]<key 0>.k is a symbol'],
      [{ e: Object.assign(new Error('x'), { message: 'bad \ud800' }) }, '$.e.message is a string with a lone surrogate'],
      // An object tagged as something else is that thing to the check, as toString says, plain prototype or not.
      [{ t: { [Symbol.toStringTag]: 'Promise' } }, '$.t is a promise'],
      [{ t: Object.assign(Object.create(null) as object, { [Symbol.toStringTag]: 'Thing' }) }, '$.t is a Thing'],
    ];
    for (const [v, says] of cases) {
      expect(() => encodeData(v)).toThrow(expect.objectContaining({ code: 'E_NOT_CLONEABLE', message: expect.stringContaining(says) }));
    }
    // What structured clone copies still goes: class instances (as plain objects), errors, null-prototype objects.
    expect(
      decodeData(
        encodeData([
          new (class A {
            x = 1;
          })(),
          Object.assign(Object.create(null) as object, { y: 2 }),
        ]),
      ),
    ).toEqual([{ x: 1 }, { y: 2 }]);
    expect((decodeData(encodeData(new TypeError('t'))) as Error).message).toBe('t');
    // A Buffer is a Uint8Array subclass msgpack carries as bytes.
    expect([...(decodeData(encodeData(Buffer.from([1, 2]))) as Uint8Array)]).toEqual([1, 2]);
  });

  it('names Map keys in the path to a bad part, and counts nesting the same way for every container', () => {
    const f = (): number => 1;
    expect(() =>
      encodeData(
        new Map([
          [
            'key1',
            new Map<unknown, unknown>([
              ['key2', [f]],
              [7n, 1],
            ]),
          ],
        ]),
      ),
    ).toThrow(expect.objectContaining({ message: expect.stringContaining('$.get("key1").get("key2")[0] is a function') }));
    expect(() =>
      encodeData(
        new Map<unknown, unknown>([
          [{}, 1],
          [3, f],
        ]),
      ),
    ).toThrow(expect.objectContaining({ message: expect.stringContaining('$.get(3) is a function') }));
    const deep = (n: number, wrap: (v: unknown) => unknown): unknown => {
      let v: unknown = 1;
      for (let i = 0; i < n; i++) v = wrap(v);
      return v;
    };
    for (const wrap of [
      (v: unknown) => [v],
      (v: unknown) => ({ a: v }),
      (v: unknown) => new Map([['k', v]]),
      (v: unknown) => new Set([v]),
    ]) {
      expect(findUncloneable(deep(MAX_DATA_DEPTH, wrap))).toBeUndefined();
      expect(findUncloneable(deep(MAX_DATA_DEPTH + 1, wrap))).toMatch(/nested more than 512/);
      // Inside one carrying array (a chunk of items), the same data nests just as deep.
      expect(findUncloneable([deep(MAX_DATA_DEPTH, wrap)], 1)).toBeUndefined();
      expect(findUncloneable([deep(MAX_DATA_DEPTH + 1, wrap)], 1)).toMatch(/nested more than 512/);
    }
  });

  it('carries an Error as structured clone does: its class, name, message and own stack; no cause property', () => {
    const t = new TypeError('boom');
    t.stack = 'TypeError: boom\n    at WORKER_FRAME (/srv/app/task.js:1:1)';
    const back = decodeData(encodeData({ t, list: [new RangeError('r'), new AggregateError([1], 'agg')] })) as {
      t: Error;
      list: Error[];
    };
    expect(back.t).toBeInstanceOf(TypeError);
    expect(back.t.message).toBe('boom');
    // Not the decoder's stack (it named msgpackr's file, and so where the daemon is installed).
    expect(back.t.stack).toBe(t.stack);
    expect(Object.getOwnPropertyNames(back.t).sort()).toEqual(['message', 'stack']);
    expect(back.list[0]).toBeInstanceOf(RangeError);
    expect(back.list[1]).toBeInstanceOf(AggregateError);
    expect(back.list[1]!.message).toBe('agg');
    class AppError extends Error {
      override name = 'AppError';
    }
    const custom = decodeData(encodeData(new AppError('x'))) as Error;
    expect([custom.name, custom.message, custom.stack?.split('\n')[0]]).toEqual(['AppError', 'x', 'AppError: x']);
    // What msgpackr's own extension wrote ([name, message, cause]) still reads: name and message.
    const old = decodeData(new Packr({ structuredClone: true, moreTypes: true }).pack(new SyntaxError('s'))) as Error;
    expect([old.constructor, old.message]).toEqual([SyntaxError, 's']);
  });

  it('refuses a string with a lone surrogate anywhere (UTF-8 would put U+FFFD in its place) with E_NOT_CLONEABLE and a path', () => {
    const refused = (v: unknown): string => {
      try {
        encodeData(v, 'item 4');
      } catch (err) {
        expect((err as { code?: unknown }).code).toBe('E_NOT_CLONEABLE');
        return (err as Error).message;
      }
      return 'encoded';
    };
    expect(refused('x\ud800y')).toMatch(/item 4 cannot be sent: \$ is a string with a lone surrogate/);
    expect(refused(['ok', 'b\udc00'])).toMatch(/\$\[1\] is a string with a lone surrogate/);
    expect(refused({ ['k\ud800']: 1 })).toMatch(/property name that is a string with a lone surrogate/);
    expect(refused(new Map([['\udfff', 1]]))).toMatch(/<key 0> is a string with a lone surrogate/);
    expect(refused({ e: new Error('m\ud800') })).toMatch(/\$\.e\.message is a string with a lone surrogate/);
    // A whole pair is a character like any other.
    expect(decodeData(encodeData(['\ud83d\ude00', { '\ud83d\ude00': '\ud83d\ude00' }]))).toEqual([
      '\ud83d\ude00',
      { '\ud83d\ude00': '\ud83d\ude00' },
    ]);
  });

  it('handles cycles', () => {
    const o: Record<string, unknown> = { a: 1 };
    o.self = o;
    const back = decodeData(encodeData(o)) as Record<string, unknown>;
    expect(back.self).toBe(back);
  });
});

describe('control codec', () => {
  it('round-trips messages with binary payloads', () => {
    const m = { type: 'batch.chunk', id: 1, start: 0, count: 2, payload: encodeData([1, 2]) };
    const back = decodeMessage(encodeMessage(m)) as typeof m;
    expect(back.type).toBe('batch.chunk');
    expect(decodeData(back.payload)).toEqual([1, 2]);
  });

  it('turns malformed frames into E_BAD_MESSAGE, never a crash', () => {
    const deep = Buffer.concat([Buffer.alloc(200_000, 0x91), Buffer.from([0x01])]);
    for (const bad of [Buffer.alloc(0), Buffer.from([0x01, 0x02]), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), deep]) {
      expect(() => decodeMessage(bad)).toThrow(expect.objectContaining({ code: 'E_BAD_MESSAGE' }));
    }
  });

  it('does not let __proto__ keys touch Object.prototype', () => {
    const frame = Buffer.from([0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa1, 0x78, 0x01]);
    decodeMessage(frame);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('encodeReply', () => {
  it("writes encodeMessage's bytes for { type: 'reply', rid, ok: true, value }, at every size boundary", () => {
    const rids = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -1, 1.5];
    const lengths = [0, 1, 255, 256, 65_535, 65_536, 70_000];
    for (const rid of rids) {
      for (const length of lengths) {
        const value = new Uint8Array(length).map((_, i) => (i * 7) & 0xff);
        expect(Buffer.from(encodeReply(rid, value)).equals(Buffer.from(encodeMessage({ type: 'reply', rid, ok: true, value })))).toBe(true);
      }
    }
    const buffer = Buffer.from([1, 2, 3]);
    expect(decodeMessage(encodeReply(9, buffer))).toEqual({ type: 'reply', rid: 9, ok: true, value: new Uint8Array([1, 2, 3]) });
  });

  it("writes encodeMessage's bytes for a VersionReply, with and without bytes, as for a plain { version, value }", () => {
    const numbers = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -1, 1.5];
    for (const rid of numbers) {
      for (const version of numbers) {
        for (const length of [undefined, 0, 1, 255, 256, 65_536]) {
          const bytes = length === undefined ? undefined : new Uint8Array(length).map((_, i) => (i * 5) & 0xff);
          const plain = bytes === undefined ? { version } : { version, value: bytes };
          const expected = Buffer.from(encodeMessage({ type: 'reply', rid, ok: true, value: plain }));
          const reply = new VersionReply(version, bytes);
          expect(Buffer.from(encodeReply(rid, reply)).equals(expected)).toBe(true);
          // Encoded by msgpackr too (the worker's channel), and in a replay-log record: as the plain object.
          expect(Buffer.from(encodeMessage(reply)).equals(Buffer.from(encodeMessage(plain)))).toBe(true);
          expect(Buffer.from(encodePairs(new Map([[rid, reply]]))).equals(Buffer.from(encodeMessage([rid, plain])))).toBe(true);
        }
      }
    }
    expect(decodeMessage(encodeReply(3, new VersionReply(4)))).toEqual({ type: 'reply', rid: 3, ok: true, value: { version: 4 } });
    expect('value' in new VersionReply(4)).toBe(false);
  });
});

describe('encodePairs', () => {
  it("writes encodeMessage's bytes for the flat [k1, v1, k2, v2, ...] of a Map, at every array size and with every kind of key and value", () => {
    const keys = [0, 1, 127, 128, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, 1.5];
    const values: unknown[] = [
      new VersionReply(3, new Uint8Array([1, 2, 3])),
      new VersionReply(2 ** 40),
      new Uint8Array(300).fill(7),
      { size: 2 },
      { ok: false, version: 9 },
      null,
      'text',
    ];
    for (const count of [0, 1, 7, 8, 9, 40_000]) {
      const pairs = new Map<number, unknown>();
      for (let i = 0; i < count; i++) pairs.set(i < keys.length ? keys[i]! : 1000 + i, values[i % values.length]);
      const flat: unknown[] = [];
      for (const [k, v] of pairs) flat.push(k, v);
      expect(Buffer.from(encodePairs(pairs)).equals(Buffer.from(encodeMessage(flat)))).toBe(true);
    }
  });
});

describe('numbers in the data codec', () => {
  it('are written as the structured-clone codec writes them, and read back the same', () => {
    const structured = new Packr({ structuredClone: true, moreTypes: true, useBigIntExtension: true });
    const numbers = [
      0,
      -0,
      1,
      -1,
      63,
      64,
      127,
      128,
      -32,
      -33,
      255,
      256,
      65_535,
      65_536,
      2 ** 31,
      -(2 ** 31) - 1,
      2 ** 32,
      2 ** 53 - 1,
      2 ** 64,
    ];
    numbers.push(1.5, -0.1, 1e300, -1e-300, NaN, Infinity, -Infinity, Number.MIN_VALUE, 3.4028234663852886e38);
    for (let i = 0; i < 2000; i++) numbers.push((i - 1000) * 7.25, Math.floor((i * 2654435761) % 2 ** 40) - 2 ** 39);
    for (const n of numbers) {
      const bytes = encodeData(n);
      expect(Buffer.from(bytes).equals(Buffer.from(structured.pack(n)))).toBe(true);
      expect(Object.is(decodeData(bytes), Object.is(n, -0) ? 0 : n)).toBe(true);
    }
  });
});

describe("an array's own named properties", () => {
  it('are not carried, by either array path, and the elements are (README: msgpack limits)', () => {
    for (const elements of [
      [1, 2, 3],
      [{ a: 1 }, 'two'],
    ]) {
      const tagged = Object.assign([...elements], { total: 3 });
      const back = decodeData(encodeData(tagged)) as unknown[] & { total?: number };
      expect(back).toEqual(elements);
      expect(back.total).toBeUndefined();
    }
  });
});

describe('built-ins of another realm (a vm context)', () => {
  it('a Map, Set, RegExp, Date or Error made there is refused with E_NOT_CLONEABLE, not sent as {}; a Date, not as a string', () => {
    for (const src of ['new Map([["k", 1]])', 'new Set([1])', '/x/g', 'new Date(5)', 'new TypeError("t")', '({ inner: [new Map()] })']) {
      expect(() => encodeData(runInNewContext(src), 'item 0'), src).toThrow(
        expect.objectContaining({ code: 'E_NOT_CLONEABLE', message: expect.stringContaining('another realm') }),
      );
    }
    expect(() => encodeData(runInNewContext('new Float64Array(2)'))).toThrow(
      expect.objectContaining({ message: expect.stringContaining('another realm') }),
    );
    // This realm's own still go as themselves.
    expect(decodeData(encodeData(new Map([['k', new Set([/x/g])]])))).toEqual(new Map([['k', new Set([/x/g])]]));
  });
});
