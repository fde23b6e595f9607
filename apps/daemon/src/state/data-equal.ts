/**
 * data-equal.ts - the equality compareAndSet uses: structural equality of two
 * data-encoded values, in O(n log n) and within a budget, on the primary's
 * only thread.
 *
 * Two values are equal when their encoded bytes are, or else when they are
 * structurally equal: same types, plain objects with the same keys in any
 * order, Maps and Sets with the same members in any order (object members
 * compared structurally too), NaN equal to NaN and -0 to 0, Dates by time,
 * RegExps by source and flags, typed arrays by type and bytes, Errors by name
 * and message. Each node of both values gets a canonical id bottom-up (the
 * AHU tree-isomorphism scheme: a node's signature is its type and its
 * children's ids, Set members and Map entries sorted, and equal signatures
 * share an id), so no member is ever compared with every other one.
 *
 * Bounded: values that would cost more than MAX_COST to decode (estimated on
 * the bytes, before anything is decoded), nested deeper than MAX_DEPTH, or
 * holding a cycle are compared by their bytes only. A value read with get and passed
 * back compares by bytes at any size, so a compare-and-set loop always works.
 */
import { decodeData } from '@corepool/protocol';
import { countsFit, MSGPACK_HEADER } from '@corepool/protocol/internal';

/**
 * The decoding cost (decodeCost) a value may have to be compared structurally: about 100 ms
 * to decode on this machine, in the worst case measured (Errors, empty Maps, objects of
 * distinct shapes); 20,000 objects of one shape cost ~500,000, a bigint of 1 MB ~1,000,000
 * (27 ms).
 */
export const MAX_COST = 1_000_000;

/** Nesting a value may have to be compared structurally. */
export const MAX_DEPTH = 1_000;

/** Thrown inside the walk when a value cannot be compared structurally (cycle, too deep). */
class Uncomparable extends Error {}

/**
 * True when `current` (stored, known to decode) and `expected` (an operand) hold equal values;
 * see the header. An `expected` that must be decoded and does not decode is E_BAD_MESSAGE.
 */
export function dataEqual(current: Uint8Array, expected: Uint8Array): boolean {
  if (bytesEqual(current, expected)) return true;
  if (decodeCost(current, MAX_COST) > MAX_COST || decodeCost(expected, MAX_COST) > MAX_COST) return false;
  const y = decodeData(expected);
  let x: unknown;
  try {
    x = decodeData(current);
  } catch {
    return false;
  }
  try {
    const canon = new Canon();
    return canon.id(x, 0) === canon.id(y, 0);
  } catch (err) {
    if (err instanceof Uncomparable) return false;
    throw err;
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * About what decoding and comparing `bytes` costs, in units of decoding one number (~0.1 us), scanning the
 * msgpack headers without decoding (linear, no allocation); stops past `limit`. Malformed
 * bytes cost more than the limit, and so does a bigint of more than `maxBigInt` bytes. Weights
 * measured with msgpackr's structured-clone decoder: an extension (Error, typed array, Date,
 * Set, record shape) up to ~300 units (an Error captures a stack), an empty Map ~45, a record
 * (a plain object) ~20, a bigint past 64 bits besides that a unit a byte (BIGINT_BYTE_COST).
 */
export function decodeCost(bytes: Uint8Array, limit: number, maxBigInt = Infinity): number {
  // An array or map declaring more elements than bytes are left: the decoder would allocate them all first.
  if (!countsFit(bytes)) return limit + 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  let pos = 0;
  let cost = 0;
  while (pos < end) {
    if (cost > limit) return cost;
    const h = bytes[pos]!;
    let skip: number;
    if (h <= 0x3f || h >= 0xe0 || (h >= 0x90 && h <= 0x9f)) {
      skip = 1;
      cost += PART_COST;
    } else if (h <= 0x7f) {
      skip = 1;
      cost += RECORD_COST;
    } else if (h <= 0x8f) {
      skip = 1;
      cost += MAP_COST;
    } else if (h <= 0xbf) {
      skip = 1 + (h & 0x1f);
      cost += PART_COST;
    } else {
      const head = MSGPACK_HEADER[h - 0xc0]!;
      if (head === 0 || pos + head > end) return limit + 1;
      switch (h) {
        case 0xc4:
        case 0xd9:
          skip = 2 + bytes[pos + 1]!;
          break;
        case 0xc5:
        case 0xda:
          skip = 3 + view.getUint16(pos + 1);
          break;
        case 0xc6:
        case 0xdb:
          skip = 5 + view.getUint32(pos + 1);
          break;
        case 0xc7:
          skip = 3 + bytes[pos + 1]!;
          break;
        case 0xc8:
          skip = 4 + view.getUint16(pos + 1);
          break;
        case 0xc9:
          skip = 6 + view.getUint32(pos + 1);
          break;
        default:
          skip = head;
      }
      if ((h >= 0xc7 && h <= 0xc9) || (h >= 0xd4 && h <= 0xd8)) {
        // The type ends an ext8-32 header ([h, length, type]); a fixext's is its second byte.
        const ext = h <= 0xc9 ? bytes[pos + head - 1] : bytes[pos + 1];
        if (ext !== BIGINT_EXT) cost += EXT_COST;
        else {
          const payload = h <= 0xc9 ? skip - head : head - 2;
          // An empty one does not decode (msgpackr throws).
          if (payload === 0 || payload > maxBigInt) return limit + 1;
          cost += EXT_COST + payload * BIGINT_BYTE_COST;
        }
      } else cost += h === 0xde || h === 0xdf ? MAP_COST : PART_COST + (skip >> 6);
    }
    pos += skip;
  }
  return pos === end ? cost : limit + 1;
}

/** Any part: decoding it, then its canonical id (a Map lookup, maybe a Set.add) cost ~4 numbers' decoding. */
const PART_COST = 4;
const EXT_COST = 300;
const MAP_COST = 50;
const RECORD_COST = 20;
/** msgpackr's extension for a bigint past 64 bits: its two's complement, big-endian. */
const BIGINT_EXT = 0x42;
/**
 * A bigint's payload, a byte: msgpackr joins its 64-bit words by halves, so decoding grows faster
 * than its length (8 KB 0.09 ms, 1 MB 27 ms, 4 MB 220 ms), and the primary may encode one again
 * (add's sum: 25 ms a MB). Charged flat at 300 like any extension, a 4 MB one passed MAX_COST: a
 * compareAndSet or a put of one held the primary ~0.5 s.
 */
const BIGINT_BYTE_COST = 1;

/** The payload's length when `bytes` hold one bigint in msgpackr's extension (past 64 bits), else 0; reads only the header. */
export function bigIntBytes(bytes: Uint8Array): number {
  const h = bytes[0] ?? 0;
  let head: number;
  let length: number;
  if (h >= 0xd4 && h <= 0xd8) {
    head = 2;
    length = 1 << (h - 0xd4);
  } else if (h >= 0xc7 && h <= 0xc9) {
    head = MSGPACK_HEADER[h - 0xc0]!;
    if (bytes.length < head) return 0;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    length = h === 0xc7 ? bytes[1]! : h === 0xc8 ? view.getUint16(1) : view.getUint32(1);
  } else return 0;
  return bytes.length === head + length && bytes[head - 1] === BIGINT_EXT ? length : 0;
}

/** Canonical ids of decoded values: equal ids if and only if structurally equal. */
class Canon {
  /** Composite signatures -> id. */
  readonly #ids = new Map<string, number>();
  /** Primitives by value: a Map's SameValueZero is the equality wanted (NaN is NaN, -0 is 0, 1n is 1n). */
  readonly #prims = new Map<unknown, number>();
  /** Strings apart from numbers and bigints ('1', 1 and 1n differ). */
  readonly #strs = new Map<string, number>();
  readonly #bigs = new Map<bigint, number>();
  /** Ids of objects already seen (shared references cost nothing twice). */
  readonly #memo = new Map<object, number>();
  readonly #open = new Set<object>();
  #next = 0;

  #intern<K>(table: Map<K, number>, key: K): number {
    let id = table.get(key);
    if (id === undefined) {
      id = this.#next++;
      table.set(key, id);
    }
    return id;
  }

  id(v: unknown, depth: number): number {
    switch (typeof v) {
      case 'number':
      case 'boolean':
      case 'undefined':
        return this.#intern(this.#prims, v);
      case 'string':
        return this.#intern(this.#strs, v);
      case 'bigint':
        return this.#intern(this.#bigs, v);
      case 'object':
        break;
      default:
        throw new Uncomparable();
    }
    if (v === null) return this.#intern(this.#prims, v);
    const known = this.#memo.get(v);
    if (known !== undefined) return known;
    if (this.#open.has(v) || depth >= MAX_DEPTH) throw new Uncomparable();
    this.#open.add(v);
    const id = this.#intern(this.#ids, this.#signature(v, depth + 1));
    this.#open.delete(v);
    this.#memo.set(v, id);
    return id;
  }

  #signature(v: object, depth: number): string {
    if (Array.isArray(v)) {
      const ids = new Uint32Array(v.length);
      for (let i = 0; i < v.length; i++) ids[i] = this.id(v[i], depth);
      return `A${ids.join(',')}`;
    }
    if (v instanceof Set) {
      const ids = new Uint32Array(v.size);
      let i = 0;
      for (const x of v) ids[i++] = this.id(x, depth);
      return `S${ids.sort().join(',')}`;
    }
    if (v instanceof Map) {
      // A pair as one float64: both ids are below 2^26 (budgeted), so key * 2^26 + value is exact and sorts by key, then value.
      const pairs = new Float64Array(v.size);
      let i = 0;
      for (const [k, x] of v) pairs[i++] = this.id(k, depth) * PAIR + this.id(x, depth);
      return `M${pairs.sort().join(',')}`;
    }
    if (v instanceof Date) return `D${v.getTime()}`;
    if (v instanceof RegExp) return `R${String(v)}`;
    if (v instanceof Error) return `E${this.id(v.name, depth)},${this.id(v.message, depth)}`;
    if (ArrayBuffer.isView(v)) return `T${v.constructor.name}:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1')}`;
    if (v instanceof ArrayBuffer) return `B${Buffer.from(v).toString('latin1')}`;
    // Plain objects (and anything else, by its prototype's tag): keys in any order.
    const keys = Object.keys(v).sort();
    const rec = v as Record<string, unknown>;
    let sig = Object.getPrototypeOf(v) === Object.prototype ? 'O' : `X${Object.prototype.toString.call(v)}`;
    for (const k of keys) sig += `${this.id(k, depth)}:${this.id(rec[k], depth)},`;
    return sig;
  }
}

const PAIR = 2 ** 26;
