/**
 * Untrusted input -> typed message, or E_BAD_MESSAGE. This is the one place
 * that checks shapes; everything past it trusts the types.
 */
import { BadMessageError, BadNameError, DETAIL_KEYS, DETAIL_TYPES, type ErrorDetails, type WireError } from './errors.js';
import { isErrorCode } from './codes.js';
import { wellFormed } from './cloneable.js';
import {
  MAX_CLIENT_WORKERS,
  MAX_CLOSING_IDS,
  MAX_DICT_KEY_BYTES,
  MAX_NAME_LENGTH,
  MAX_PRIORITY,
  MAX_SOLO_CHUNK_TARGET_MS,
  MAX_SOURCE_LENGTH,
  MAX_TASK_URL_LENGTH,
  MAX_TIMEOUT_MS,
  MAX_WEIGHT,
  MIN_PRIORITY,
} from './limits.js';
import {
  STATE_OPS,
  type BatchChunk,
  type BatchOpen,
  type ClientMessage,
  type ServerMessage,
  type StateOp,
  type TaskSpec,
} from './messages.js';

type Obj = Record<string, unknown>;

function fail(what: string): never {
  throw new BadMessageError(what);
}
function assertObject(v: unknown, what: string): asserts v is Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) fail(`${what} must be a map`);
}
function uint(o: Obj, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${key} must be a non-negative integer`);
  return v;
}
function optUint(o: Obj, key: string): number | undefined {
  return o[key] === undefined || o[key] === null ? undefined : uint(o, key);
}
/** An array of request ids (its length is bounded by the frame's). */
function uints(v: unknown, key: string): number[] {
  if (!Array.isArray(v)) fail(`${key} must be an array of request ids`);
  for (const x of v) if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail(`${key} must hold non-negative integers`);
  return v as number[];
}
/** An item's timeoutMs: a timer of 2^31 ms or more would fire at once, failing every item. */
function optTimeout(o: Obj, key: string): number | undefined {
  const v = optUint(o, key);
  if (v !== undefined && v > MAX_TIMEOUT_MS) fail(`${key} must be at most ${MAX_TIMEOUT_MS} ms`);
  return v;
}
/** An optional integer in [min, max]. */
function optIntIn(o: Obj, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(`${key} must be an integer from ${min} to ${max}`);
  return v;
}
function str(o: Obj, key: string, max: number): string {
  const v = o[key];
  if (typeof v !== 'string') fail(`${key} must be a string`);
  if (v.length > max) fail(`${key} is longer than ${max} characters`);
  return v;
}
/**
 * A state request's name: a string, bounded here so a frame cannot make the daemon hold a huge one;
 * one too long for that is refused as checkName refuses any name over MAX_NAME_LENGTH (E_BAD_NAME).
 */
function stateName(o: Obj): string {
  const v = o.name;
  if (typeof v !== 'string') fail('name must be a string');
  if (v.length > 1 << 16) throw new BadNameError(`a name must be at most ${MAX_NAME_LENGTH} characters`);
  return v;
}
function bytes(o: Obj, key: string): Uint8Array {
  const v = o[key];
  if (!(v instanceof Uint8Array)) fail(`${key} must be binary`);
  return v;
}
function optBytes(o: Obj, key: string): Uint8Array | undefined {
  return o[key] === undefined || o[key] === null ? undefined : bytes(o, key);
}

const STATE_OP_SET = new Set<string>(STATE_OPS);

function parseChunk(v: Obj): BatchChunk {
  const count = uint(v, 'count');
  if (count === 0) fail('count must be at least 1');
  const m: BatchChunk = { type: 'batch.chunk', id: uint(v, 'id'), start: uint(v, 'start'), count, payload: bytes(v, 'payload') };
  // Items are numbered by start + i: past 2^53 two items shared a number, and a chunk of a crashing task answered 2 of its 4.
  if (m.start + count - 1 > Number.MAX_SAFE_INTEGER) fail('start + count - 1 must be at most 2^53 - 1');
  if (v.final === true) m.final = true;
  return m;
}

function parseTask(v: unknown): TaskSpec {
  assertObject(v, 'task');
  if (v.kind === 'source') {
    return { kind: 'source', hash: str(v, 'hash', 128), source: str(v, 'source', MAX_SOURCE_LENGTH) };
  }
  if (v.kind === 'module') {
    return { kind: 'module', url: str(v, 'url', MAX_TASK_URL_LENGTH), name: str(v, 'name', MAX_NAME_LENGTH) };
  }
  return fail('task.kind must be "source" or "module"');
}

/** Validates a decoded client frame. */
export function parseClientMessage(v: unknown): ClientMessage {
  assertObject(v, 'message');
  switch (v.type) {
    case 'hello': {
      const m: ClientMessage = { type: 'hello', v: uint(v, 'v'), token: str(v, 'token', 1024) };
      if (v.name !== undefined) m.name = str(v, 'name', MAX_NAME_LENGTH);
      if (v.instance !== undefined) m.instance = str(v, 'instance', 64);
      const weight = optIntIn(v, 'weight', 1, MAX_WEIGHT);
      if (weight !== undefined) m.weight = weight;
      const maxWorkers = optIntIn(v, 'maxWorkers', 1, MAX_CLIENT_WORKERS);
      if (maxWorkers !== undefined) m.maxWorkers = maxWorkers;
      return m;
    }
    case 'batch.open': {
      const m: BatchOpen = {
        type: 'batch.open',
        id: uint(v, 'id'),
        task: parseTask(v.task),
        timeoutMs: optTimeout(v, 'timeoutMs') ?? 0,
        retries: Math.min(optUint(v, 'retries') ?? 0, 100),
      };
      const priority = optIntIn(v, 'priority', MIN_PRIORITY, MAX_PRIORITY);
      if (priority !== undefined && priority !== 0) m.priority = priority;
      if (v.first !== undefined && v.first !== null) {
        assertObject(v.first, 'first');
        m.first = parseChunk({ ...v.first, id: m.id });
      }
      return m;
    }
    case 'batch.chunk':
      return parseChunk(v);
    case 'batch.cancel':
    case 'batch.close':
      return { type: v.type, id: uint(v, 'id') };
    case 'state': {
      const op = v.op;
      if (typeof op !== 'string' || !STATE_OP_SET.has(op)) fail('op is not a known state operation');
      const m: ClientMessage = { type: 'state', rid: uint(v, 'rid'), op: op as StateOp, name: stateName(v) };
      if (v.key !== undefined) m.key = str(v, 'key', 1 << 16);
      const a = optBytes(v, 'a');
      if (a !== undefined) m.a = a;
      const b = optBytes(v, 'b');
      if (b !== undefined) m.b = b;
      // A blocked call's wait, as an item's: absent waits for good (the SDK's Infinity), 2^31 ms and more is refused.
      const timeoutMs = optTimeout(v, 'timeoutMs');
      if (timeoutMs !== undefined) m.timeoutMs = timeoutMs;
      const token = optUint(v, 'token');
      if (token !== undefined) m.token = token;
      const ack = optUint(v, 'ack');
      if (ack !== undefined) m.ack = ack;
      const limit = optUint(v, 'limit');
      if (limit !== undefined) m.limit = limit;
      if (v.cursor !== undefined) {
        m.cursor = str(v, 'cursor', 64);
        // Cursors are page offsets (or Redis SCAN cursors): anything else would list from the start, as if it were none.
        if (!/^\d{1,20}$/.test(m.cursor)) fail("cursor must be a previous page's next");
      }
      return m;
    }
    case 'ack': {
      const m: ClientMessage = { type: 'ack', ack: uint(v, 'ack') };
      if (v.closing !== undefined && v.closing !== null) {
        // No more than an instance keeps replies for: 1.6 million ids took the primary 0.55-1.0 s a frame (hostile review).
        if (Array.isArray(v.closing) && v.closing.length > MAX_CLOSING_IDS) fail(`closing holds more than ${MAX_CLOSING_IDS} request ids`);
        m.closing = uints(v.closing, 'closing');
      }
      return m;
    }
    case 'status':
    case 'stop':
      return { type: v.type, rid: uint(v, 'rid') };
    case 'reload': {
      const m: ClientMessage = { type: 'reload', rid: uint(v, 'rid') };
      const graceMs = optUint(v, 'graceMs');
      if (graceMs !== undefined) m.graceMs = graceMs;
      return m;
    }
    default:
      return fail('unknown message type');
  }
}

function parseWireError(v: unknown): WireError {
  assertObject(v, 'error');
  const code = isErrorCode(v.code) ? v.code : 'E_INTERNAL';
  const w: WireError = { code, message: typeof v.message === 'string' ? v.message : 'unknown error' };
  // A detail of the wrong type is dropped, not trusted: the table says which type each one has.
  for (const k of DETAIL_KEYS) if (typeof v[k] === DETAIL_TYPES[k]) (w as Record<keyof ErrorDetails, unknown>)[k] = v[k];
  return w;
}

/** Validates a decoded daemon frame (the client trusts the daemon less than it could). */
export function parseServerMessage(v: unknown): ServerMessage {
  assertObject(v, 'message');
  switch (v.type) {
    case 'welcome': {
      const m: ServerMessage = {
        type: 'welcome',
        v: uint(v, 'v'),
        clientId: uint(v, 'clientId'),
        workers: uint(v, 'workers'),
        pid: uint(v, 'pid'),
      };
      const maxPayload = optUint(v, 'maxPayload');
      if (maxPayload !== undefined) m.maxPayload = maxPayload;
      const heartbeatMs = optUint(v, 'heartbeatMs');
      if (heartbeatMs !== undefined) m.heartbeatMs = heartbeatMs;
      const weight = optUint(v, 'weight');
      if (weight !== undefined && weight >= 1) m.weight = weight;
      const maxWorkers = optUint(v, 'maxWorkers');
      if (maxWorkers !== undefined && maxWorkers >= 1) m.maxWorkers = maxWorkers;
      if (typeof v.warning === 'string') m.warning = v.warning.slice(0, 1024);
      if (v.acks === true) m.acks = true;
      if (v.closingAcks === true) m.closingAcks = true;
      if (v.sourcesByHash === true) m.sourcesByHash = true;
      // A hint for chunk sizing: one the SDK cannot use is left out, not a reason to refuse the daemon.
      const solo = v.soloChunkMs;
      if (typeof solo === 'number' && Number.isInteger(solo) && solo >= 1) m.soloChunkMs = Math.min(solo, MAX_SOLO_CHUNK_TARGET_MS);
      return m;
    }
    case 'chunk.result': {
      const errors = v.errors;
      if (!Array.isArray(errors)) fail('errors must be an array');
      const m: ServerMessage = {
        type: 'chunk.result',
        id: uint(v, 'id'),
        start: uint(v, 'start'),
        count: uint(v, 'count'),
        payload: bytes(v, 'payload'),
        errors: errors.map(parseWireError),
        ms: typeof v.ms === 'number' ? v.ms : 0,
        load: typeof v.load === 'number' ? v.load : 1,
      };
      const workers = optUint(v, 'workers');
      if (workers !== undefined && workers >= 1) m.workers = workers;
      return m;
    }
    case 'batch.error':
      return { type: 'batch.error', id: uint(v, 'id'), error: parseWireError(v.error) };
    case 'reply': {
      const m: ServerMessage = { type: 'reply', rid: uint(v, 'rid'), ok: v.ok === true, value: v.value };
      if (v.error !== undefined) m.error = parseWireError(v.error);
      return m;
    }
    case 'push': {
      if (v.kind !== 'value' && v.kind !== 'dict') fail('push.kind');
      const m: ServerMessage = { type: 'push', kind: v.kind, name: str(v, 'name', 1 << 16), version: uint(v, 'version') };
      if (typeof v.key === 'string') m.key = v.key;
      const value = optBytes(v, 'value');
      if (value !== undefined) m.value = value;
      if (v.deleted === true) m.deleted = true;
      if (v.resync === true) m.resync = true;
      return m;
    }
    case 'error':
      return { type: 'error', error: parseWireError(v.error) };
    default:
      return fail('unknown message type');
  }
}

/** Checks a shared-state name: a non-empty string of at most MAX_NAME_LENGTH characters. */
export function checkName(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'a name must be a string';
  if (name.length === 0) return 'a name must not be empty';
  if (name.length > MAX_NAME_LENGTH) return `a name must be at most ${MAX_NAME_LENGTH} characters`;
  // The wire's UTF-8 would make it another name (U+FFFD in place of the surrogate).
  if (!wellFormed(name)) return 'a name must not hold a lone surrogate (half of a UTF-16 pair)';
  return undefined;
}

/** Checks a dict key: a string (empty is fine) of at most MAX_DICT_KEY_BYTES in UTF-8. */
export function checkDictKey(key: unknown): string | undefined {
  if (typeof key !== 'string') return 'a dict key must be a string';
  if (key.length > MAX_DICT_KEY_BYTES / 3 && Buffer.byteLength(key) > MAX_DICT_KEY_BYTES) {
    return `a dict key must be at most ${MAX_DICT_KEY_BYTES} bytes in UTF-8`;
  }
  if (!wellFormed(key)) return 'a dict key must not hold a lone surrogate (half of a UTF-16 pair)';
  return undefined;
}
