/**
 * operands.ts - the checks both state stores (SharedState, RedisState) make
 * on a request's name and operands before running it, so a request is refused
 * the same way whichever store backs the daemon.
 */
import {
  BadMessageError,
  BadNameError,
  TooLargeError,
  checkDictKey,
  checkName,
  decodeData,
  ValueTypeError,
  type StateRequest,
} from '@corepool/protocol/internal';

import { bigIntBytes, decodeCost, MAX_COST } from './data-equal.js';

/** The request's name, checked (E_BAD_NAME), and its operands within `maxValueBytes` (E_TOO_LARGE). */
export function checkRequest(req: StateRequest, maxValueBytes: number): string {
  const name = req.name;
  const bad = checkName(name);
  if (bad !== undefined) throw new BadNameError(bad);
  const size = Math.max(req.a?.length ?? 0, req.b?.length ?? 0);
  if (size > maxValueBytes) {
    throw new TooLargeError(
      `${req.op}: an operand of ${size} bytes is over the ${maxValueBytes} bytes a reply can carry back, so it could never be read`,
    );
  }
  return name;
}

export function operand(bytes: Uint8Array | undefined, which: string, op: string): Uint8Array {
  if (bytes === undefined) throw new BadMessageError(`${op} needs operand ${which}`);
  return bytes;
}

/**
 * An operand that must decode (so no undecodable bytes are ever stored); kept as bytes. One
 * that would cost more than MAX_COST to decode (an 8 MB array of empty Maps takes the decoder
 * over 30 s) has only its msgpack framing checked (every header valid, every payload within
 * the bytes), in one pass without allocating; its structure is not. The primary never decodes
 * a stored value unguarded (add and compareAndSet check the cost first), and a reader that
 * cannot decode it gets E_BAD_MESSAGE.
 */
export function checked(bytes: Uint8Array | undefined, which: string, op: string): Uint8Array {
  const b = operand(bytes, which, op);
  if (decodeCost(b, MAX_COST) <= MAX_COST) decodeData(b);
  else if (decodeCost(b, Infinity) === Infinity) throw new BadMessageError(`${op} operand ${which} is not well-formed data`);
  return b;
}

/**
 * The bigint add computes on, its delta and the value it adds to each: 64 KiB (2^524,288). Past
 * it, add is E_TOO_LARGE: the sum is encoded again on every add (64 KiB 1.6 ms, 1 MB 25 ms, 4 MB
 * 100 ms, besides decoding a stored one once: 220 ms at 4 MB), and one app adding 1n to a 4 MB
 * bigint in a loop left a neighbour's awaited add(1) 33 adds in 4 s instead of ~24,000.
 */
export const MAX_ADD_BIGINT_BYTES = 64 * 1024;

/** E_TOO_LARGE when `bytes` hold a bigint longer than add computes on (MAX_ADD_BIGINT_BYTES); `what` names them. */
export function checkAddable(bytes: Uint8Array, what: string): void {
  const n = bigIntBytes(bytes);
  if (n > MAX_ADD_BIGINT_BYTES) {
    throw new TooLargeError(`add: ${what} is a bigint of ${n} bytes, over the ${MAX_ADD_BIGINT_BYTES} bytes add computes on`);
  }
}

/** add's delta: a number or a bigint. One-byte fixints (the usual +1/-1) skip the decoder. */
export function delta(bytes: Uint8Array | undefined, op: string): number | bigint {
  const b = operand(bytes, 'a', op);
  if (b.length === 1) {
    const x = b[0]!;
    if (x <= 0x7f) return x;
    if (x >= 0xe0) return x - 0x100;
  }
  checkAddable(b, 'the delta');
  if (decodeCost(b, MAX_COST) > MAX_COST) throw new ValueTypeError('add needs a number or a bigint delta, not a large value');
  const d = decodeData(b);
  if (typeof d !== 'number' && typeof d !== 'bigint') throw new ValueTypeError(`add needs a number or a bigint delta, not ${describe(d)}`);
  return d;
}

export function dictKey(req: StateRequest): string {
  const bad = checkDictKey(req.key);
  if (bad !== undefined) throw new BadNameError(bad);
  return req.key!;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return `a ${typeof v}`;
  return `a ${Object.prototype.toString.call(v).slice(8, -1)}`;
}
