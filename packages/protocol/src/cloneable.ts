/**
 * What structured clone can copy. msgpackr silently turns a function into
 * undefined, a promise, a generator, a boxed number or a Blob into {}, and
 * renames an own `__proto__` key, and throws an uncoded error on a symbol,
 * and msgpack's strings are UTF-8, which turns a lone surrogate (half of a
 * UTF-16 pair, which structured clone keeps) into U+FFFD; so every item,
 * result and shared value is checked before it is encoded: anything it would
 * not carry faithfully is refused with a path and a reason.
 */
import { types } from 'node:util';

import { MAX_DATA_DEPTH } from './limits.js';

const OK_TAGS = new Set([
  'Date',
  'RegExp',
  'Map',
  'Set',
  'Error',
  'ArrayBuffer',
  'DataView',
  'Uint8Array',
  'Int8Array',
  'Uint8ClampedArray',
  'Uint16Array',
  'Int16Array',
  'Uint32Array',
  'Int32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
]);

/** What to do instead, for the objects people most often try to send. */
const HINTS: Record<string, string> = {
  Generator: '; spread it into an array first',
  AsyncGenerator: '; collect it into an array first',
  SharedArrayBuffer: '; memory cannot be shared between processes, so copy it into a Uint8Array',
  Blob: '; send new Uint8Array(await blob.arrayBuffer())',
  File: '; send new Uint8Array(await file.arrayBuffer())',
  URL: '; send url.href',
  Number: '; send the primitive, x.valueOf()',
  String: '; send the primitive, x.valueOf()',
  Boolean: '; send the primitive, x.valueOf()',
  BigInt: '; send the primitive, x.valueOf()',
  Arguments: '; send Array.from(arguments)',
};

/**
 * Returns a description of the first part of `value` that cannot be cloned
 * (`$[2].fn is a function`), or undefined when all of it can. `wrappers` is
 * how many outer array levels only carry the data (a chunk around its items):
 * they do not count toward MAX_DATA_DEPTH, so an item nests as deep as a value.
 */
export function findUncloneable(value: unknown, wrappers = 0): string | undefined {
  // Fast path for the common case: arrays of primitives.
  if (Array.isArray(value)) {
    let simple = true;
    for (let i = 0; i < value.length; i++) {
      const t = typeof value[i];
      if (t === 'object' || t === 'function' || t === 'symbol' || (t === 'string' && !wellFormed(value[i] as string))) {
        simple = false;
        break;
      }
    }
    if (simple) return undefined;
  }
  const bad = walk(value, new Set(), -wrappers);
  if (bad === undefined) return undefined;
  const path = `$${bad.steps.reverse().join('')}`;
  return `${bad.short ? shortPath(path) : path} ${bad.reason}`;
}

/**
 * What is wrong and where: the steps from the value down to it (`[2]`, `.fn`, `.get("k")`),
 * pushed innermost first as the walk unwinds. The path is made only for what is refused: made
 * at every level as the walk went down (a string per property and per element), it was most of
 * the check's time for arrays of objects.
 */
class Bad {
  readonly steps: string[] = [];
  constructor(
    readonly reason: string,
    /** The path is shortened in the message (shortPath). */
    readonly short = false,
  ) {}

  /** This fault, one step further out; returns it. */
  at(step: string): Bad {
    this.steps.push(step);
    return this;
  }
}

function walk(value: unknown, seen: Set<object>, depth: number): Bad | undefined {
  switch (typeof value) {
    case 'function':
      return new Bad('is a function');
    case 'symbol':
      return new Bad('is a symbol');
    case 'object':
      break;
    case 'string':
      return wellFormed(value) ? undefined : new Bad(LONE_SURROGATE, true);
    default:
      return undefined;
  }
  if (value === null || seen.has(value)) return undefined;
  // The encoder recurses per level: deeper data would overflow its stack (an uncoded RangeError).
  if (depth >= MAX_DATA_DEPTH) return new Bad(`is nested more than ${MAX_DATA_DEPTH} levels deep (the most data may nest)`, true);
  seen.add(value);
  const d = depth + 1;
  if (types.isProxy(value)) return new Bad('is a Proxy (structured clone cannot copy one)');
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = walk(value[i], seen, d);
      if (bad !== undefined) return bad.at(`[${i}]`);
    }
    return undefined;
  }
  if (value instanceof Map) {
    // msgpackr writes only a Map itself as a map: a subclass's entries went as the fields of an empty object.
    if (Object.getPrototypeOf(value) !== Map.prototype) return new Bad(subclassOf('Map', value, 'new Map(x)'));
    let i = 0;
    for (const [k, v] of value) {
      const badKey = walk(k, seen, d);
      if (badKey !== undefined) return badKey.at(`<key ${i}>`);
      const bad = walk(v, seen, d);
      if (bad !== undefined) return bad.at(`.get(${keyLabel(k, i)})`);
      i++;
    }
    return undefined;
  }
  if (value instanceof Set) {
    let i = 0;
    for (const v of value) {
      const bad = walk(v, seen, d);
      if (bad !== undefined) return bad.at(`<item ${i}>`);
      i++;
    }
    return undefined;
  }
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    // msgpackr names a typed array by its constructor: a subclass's bytes came back as a decoding error.
    const base = Object.prototype.toString.call(value).slice(8, -1);
    const proto = Object.getPrototypeOf(value) as object | null;
    if (proto === Buffer.prototype || proto === (globalThis as Record<string, { prototype?: object } | undefined>)[base]?.prototype)
      return undefined;
    return new Bad(subclassOf(base, value, `new ${base}(x)`));
  }
  // A plain object is told by its prototype: its tag made a string for every object of the data.
  const proto = Object.getPrototypeOf(value) as unknown;
  const plain = (proto === Object.prototype || proto === null) && !(Symbol.toStringTag in value);
  const tag = plain ? 'Object' : Object.prototype.toString.call(value).slice(8, -1);
  if (tag === 'Promise' || typeof (value as { then?: unknown }).then === 'function') {
    return new Bad('is a promise (await it first)');
  }
  if (foreign(tag, value)) {
    return new Bad(
      `is ${tag === 'Error' ? 'an' : 'a'} ${tag} from another realm (a vm context), which cannot be sent as it is: send ${FOREIGN_REMAKE[tag]}`,
    );
  }
  if (tag === 'Error') {
    const e = value as Error;
    // Its name, message and stack go as strings.
    for (const part of ['name', 'message', 'stack'] as const) {
      const text: unknown = e[part];
      if (typeof text === 'string' && !wellFormed(text)) return new Bad(LONE_SURROGATE, true).at(`.${part}`);
    }
    return undefined;
  }
  if (OK_TAGS.has(tag)) return undefined;
  if (tag !== 'Object') return new Bad(`is a ${tag}, which cannot be sent as it is${HINTS[tag] ?? ''}`);
  // msgpackr sends an object of a class with toJSON() (a Decimal, a Luxon DateTime, an ObjectId) as what that
  // returns, unchecked (a function there went as undefined): structured clone copies its own properties instead.
  if (!plain && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    const name = (value.constructor as { name?: unknown } | undefined)?.name;
    return new Bad(
      `is an object of a class${typeof name === 'string' && name !== '' && name !== 'Object' ? ` (${name})` : ''} with a toJSON() method, ` +
        'which cannot be sent as it is: send { ...x } for its own properties (what structured clone copies), or x.toJSON()',
    );
  }
  if (Object.prototype.hasOwnProperty.call(value, '__proto__'))
    return new Bad('has an own property named "__proto__", which cannot be sent safely');
  for (const key of Object.keys(value)) {
    if (!wellFormed(key)) return new Bad(`has a property name that ${LONE_SURROGATE}`, true);
    const bad = walk((value as Record<string, unknown>)[key], seen, d);
    if (bad !== undefined) return bad.at(`.${key}`);
  }
  return undefined;
}

/** What a subclass of a type that msgpack carries only as itself is told: send the type itself. */
function subclassOf(base: string, value: object, instead: string): string {
  const name = (value.constructor as { name?: unknown } | undefined)?.name;
  // A built-in of another realm (a vm context) has its own constructor of the same name.
  if (name === base) return `is a ${base} from another realm (a vm context), which cannot be sent as it is: send ${instead}`;
  return `is a subclass of ${base}${typeof name === 'string' && name !== '' ? ` (${name})` : ''}, which cannot be sent as it is: send ${instead}`;
}

/**
 * What to send instead of a built-in of another realm (a vm context): msgpackr tells them by instanceof,
 * so a Map, Set, RegExp or Error made there went as an empty object, and a Date as its toJSON() string,
 * where structured clone copies each.
 */
const FOREIGN_REMAKE: Readonly<Record<string, string>> = {
  Map: 'new Map(x)',
  Set: 'new Set(x)',
  RegExp: 'new RegExp(x)',
  Date: 'new Date(x.getTime())',
  Error: 'new Error(x.message)',
};

/** True for a Map, Set, RegExp, Date or Error (by its tag) that is not one of this realm's. */
function foreign(tag: string, value: object): boolean {
  const local = (globalThis as Record<string, unknown>)[tag];
  return FOREIGN_REMAKE[tag] !== undefined && typeof local === 'function' && !(value instanceof local);
}

const LONE_SURROGATE =
  'is a string with a lone surrogate (half of a UTF-16 pair), which msgpack (UTF-8) cannot carry: send s.toWellFormed(), or its code units in a Uint16Array';

/** False for a string with a lone surrogate (String.prototype.isWellFormed: ES2024, in Node 20). */
export function wellFormed(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

/** A Map key as the path shows it: a primitive as written in code, any other by its position. */
function keyLabel(key: unknown, i: number): string {
  switch (typeof key) {
    case 'string':
      return JSON.stringify(key.length <= 40 ? key : `${key.slice(0, 40)}…`);
    case 'bigint':
      return `${key}n`;
    case 'object':
      if (key !== null) return `<key ${i}>`;
      return 'null';
    case 'function':
    case 'symbol':
      return `<key ${i}>`;
    default:
      return String(key);
  }
}

/** A path short enough for a message: its start and its end. */
function shortPath(path: string): string {
  return path.length <= 80 ? path : `${path.slice(0, 40)}…${path.slice(-36)}`;
}
