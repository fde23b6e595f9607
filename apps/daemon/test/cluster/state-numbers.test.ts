/**
 * Value.add in Redis (lua-numbers.ts) against JS itself: every sum, number or
 * bigint, is JS's sum, stored in the very bytes the SDK's codec writes for it
 * (so a compareAndSet with the number a client computed matches by bytes),
 * across msgpackr's integer forms, floats, NaN and infinities, and bigints of
 * every encoded size (int64, uint64, the extension in words, past 2^65536).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterName, dropCluster, MACHINE_REDIS } from '../support/redis.js';
import { closeSide, code, dec, enc, req, side, type Side } from './state-helpers.js';

const name = clusterName('state-num');
let a: Side;

beforeAll(async () => {
  a = await side(MACHINE_REDIS, name, { maxValueBytes: 64 * 1024 * 1024 });
});
afterAll(async () => {
  await closeSide(a);
  await dropCluster(MACHINE_REDIS, name);
});

let n = 0;
/** Sets a fresh value to `x`, adds `d`, and returns the reply's bytes. */
async function sum(x: number | bigint, d: number | bigint): Promise<Uint8Array> {
  const v = `n${n++}`;
  await a.state.handle('c:1', req('value.set', v, { a: enc(x) }));
  const r = (await a.state.handle('c:1', req('value.add', v, { a: enc(d) }))) as { version: number; value: Uint8Array };
  expect(r.version).toBe(2);
  const got = (await a.state.handle('c:1', req('value.get', v))) as { value: Uint8Array };
  expect(Buffer.from(got.value).equals(Buffer.from(r.value))).toBe(true);
  return r.value;
}

function same(bytes: Uint8Array, expected: number | bigint): void {
  expect(Buffer.from(bytes).toString('hex')).toBe(Buffer.from(enc(expected)).toString('hex'));
  expect(Object.is(dec(bytes), expected) || (typeof expected === 'bigint' && dec(bytes) === expected)).toBe(true);
}

describe('value.add in Lua', () => {
  it('adds numbers exactly as JS, in the bytes msgpackr writes', async () => {
    const xs = [0, 1, -1, 31, 32, 63, 64, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32];
    const more = [-32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53, -(2 ** 53), 0.1, 0.2, 1e300, -1e-300, 3.5];
    const cases: [number, number][] = [
      [0.1, 0.2],
      [1e308, 1e308],
      [-1e308, -1e308],
      [Infinity, -Infinity],
      [NaN, 1],
      [-0, 0],
      [0.5, -0.5],
      [2 ** 53, 1],
      [4294967295, 1],
      [-2147483648, -1],
    ];
    for (const x of [...xs, ...more]) for (const d of [1, -1, 0.25, 63, -64, 2 ** 32]) cases.push([x, d]);
    for (const [x, d] of cases) same(await sum(x, d), x + d);
  });

  it('adds bigints exactly, in every size msgpackr encodes them', async () => {
    const big = (bits: number, neg = false): bigint => (neg ? -1n : 1n) * ((1n << BigInt(bits)) - 12345n);
    const xs = [0n, 1n, -1n, (1n << 63n) - 1n, 1n << 63n, -(1n << 63n), (1n << 64n) - 1n, 1n << 64n, -(1n << 64n)];
    for (const bits of [65, 100, 127, 128, 129, 500, 2047, 2048, 65535, 65536, 65537, 70000]) xs.push(big(bits), big(bits, true));
    const ds = [1n, -1n, 1n << 63n, -(1n << 70n), 123456789012345678901234567890n];
    for (const x of xs) for (const d of ds) same(await sum(x, d), x + d);
    // Sums that cross a size edge, both ways.
    same(await sum((1n << 65536n) - 1n, 1n), 1n << 65536n);
    same(await sum(1n << 65536n, -1n), (1n << 65536n) - 1n);
    same(await sum(-(1n << 65536n), -1n), -(1n << 65536n) - 1n);
  });

  it('creates an absent value from the delta, and refuses mixed types with E_TYPE', async () => {
    const r = (await a.state.handle('c:1', req('value.add', 'fresh', { a: enc(5n) }))) as { version: number; value: Uint8Array };
    expect(r.version).toBe(1);
    same(r.value, 5n);
    expect(await code(a.state.handle('c:1', req('value.add', 'fresh', { a: enc(1) })))).toBe('E_TYPE');
    await a.state.handle('c:1', req('value.set', 'text', { a: enc('x') }));
    expect(await code(a.state.handle('c:1', req('value.add', 'text', { a: enc(1) })))).toBe('E_TYPE');
    expect(await code(a.state.handle('c:1', req('value.add', 'fresh', { a: enc('1') })))).toBe('E_TYPE');
    // Nothing changed.
    expect(((await a.state.handle('c:1', req('value.get', 'fresh'))) as { version: number }).version).toBe(1);
  });
});
