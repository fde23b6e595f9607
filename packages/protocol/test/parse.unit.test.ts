/** parse.ts: every shape is checked once; bad ones get E_BAD_MESSAGE. */
import { describe, expect, it } from 'vitest';
import { checkName, parseClientMessage, parseServerMessage } from '../src/parse.js';
import { MAX_SOLO_CHUNK_TARGET_MS } from '../src/limits.js';
import { DETAIL_KEYS, DETAIL_TYPES, TaskError, fromWire } from '../src/errors.js';

const bad = (v: unknown): void => {
  expect(() => parseClientMessage(v)).toThrow(expect.objectContaining({ code: 'E_BAD_MESSAGE' }));
};

describe('parseClientMessage', () => {
  it('accepts well-formed messages', () => {
    expect(parseClientMessage({ type: 'hello', v: 1, token: 't' })).toEqual({ type: 'hello', v: 1, token: 't' });
    expect(
      parseClientMessage({
        type: 'batch.open',
        id: 3,
        task: { kind: 'module', url: 'file:///x.mjs', name: 'f' },
        timeoutMs: 0,
        retries: 2,
      }),
    ).toMatchObject({ type: 'batch.open', id: 3, retries: 2 });
    expect(parseClientMessage({ type: 'state', rid: 1, op: 'value.add', name: 'n', a: new Uint8Array([1]) })).toMatchObject({
      op: 'value.add',
    });
    // An acknowledgement on its own (after a burst of writes): only its count is kept.
    expect(parseClientMessage({ type: 'ack', ack: 42, extra: 'dropped' })).toEqual({ type: 'ack', ack: 42 });
  });

  it('rejects everything else', () => {
    bad(null);
    bad([]);
    bad('hello');
    bad({ type: 'nope' });
    bad({ type: 'hello', v: -1, token: 't' });
    bad({ type: 'hello', v: 1, token: 5 });
    bad({ type: 'batch.open', id: 1, task: { kind: 'eval', source: 'x' } });
    bad({ type: 'batch.chunk', id: 1, start: 0, count: 0, payload: new Uint8Array(1) });
    bad({ type: 'batch.chunk', id: 1, start: 0, count: 1, payload: 'not bytes' });
    bad({ type: 'batch.chunk', id: 1.5, start: 0, count: 1, payload: new Uint8Array(1) });
    bad({ type: 'state', rid: 1, op: 'constructor', name: 'x' });
    bad({ type: 'state', rid: 1, op: 'value.get', name: 7 });
    bad({ type: 'ack' });
    bad({ type: 'ack', ack: -1 });
    // A closing list names no more ids than an instance keeps replies for.
    expect(parseClientMessage({ type: 'ack', ack: 5, closing: [1, 3] })).toEqual({ type: 'ack', ack: 5, closing: [1, 3] });
    expect(parseClientMessage({ type: 'ack', ack: 5, closing: Array.from({ length: 100_000 }, (_, i) => i) })).toMatchObject({
      type: 'ack',
    });
    bad({ type: 'ack', ack: 5, closing: Array.from({ length: 100_001 }, (_, i) => i) });
    bad({ type: 'ack', ack: 5, closing: [-1] });
    bad({ type: 'ack', ack: '5' });
  });

  it('state lifecycle: the remove ops and state.list, whose limit is a count and cursor a short string', () => {
    for (const op of ['value.remove', 'queue.remove', 'dict.remove']) {
      expect(parseClientMessage({ type: 'state', rid: 1, op, name: 'x' })).toEqual({ type: 'state', rid: 1, op, name: 'x' });
    }
    expect(parseClientMessage({ type: 'state', rid: 2, op: 'state.list', name: '', limit: 50, cursor: '200' })).toEqual({
      type: 'state',
      rid: 2,
      op: 'state.list',
      name: '',
      limit: 50,
      cursor: '200',
    });
    bad({ type: 'state', rid: 1, op: 'state.list', name: '', limit: -1 });
    bad({ type: 'state', rid: 1, op: 'state.list', name: '', limit: 1.5 });
    bad({ type: 'state', rid: 1, op: 'state.list', name: '', cursor: 7 });
    bad({ type: 'state', rid: 1, op: 'state.list', name: '', cursor: 'x'.repeat(65) });
    bad({ type: 'state', rid: 1, op: 'state.list', name: '', cursor: 'garbage!!' });
    bad({ type: 'state', rid: 1, op: 'value.delete', name: 'x' });
  });

  it('refuses an item timeoutMs a timer cannot hold (2^31 ms and more would fire at once)', () => {
    const open = (timeoutMs: unknown): unknown => ({
      type: 'batch.open',
      id: 1,
      task: { kind: 'module', url: 'file:///x.mjs', name: 'f' },
      timeoutMs,
      retries: 0,
    });
    for (const t of [2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER, 1.5, -1, Number.NaN, Infinity, '100']) bad(open(t));
    expect(parseClientMessage(open(2 ** 31 - 1))).toMatchObject({ timeoutMs: 2 ** 31 - 1 });
    // A blocked get's or acquire's wait likewise.
    const get = (timeoutMs: unknown): unknown => ({ type: 'state', rid: 1, op: 'queue.get', name: 'q', timeoutMs });
    for (const t of [2 ** 31, Number.MAX_SAFE_INTEGER, 1.5, -1]) bad(get(t));
    expect(parseClientMessage(get(2 ** 31 - 1))).toMatchObject({ timeoutMs: 2 ** 31 - 1 });
  });

  it('refuses a chunk whose items would number past 2^53 - 1', () => {
    const chunk = (start: number, count: number): unknown => ({ type: 'batch.chunk', id: 1, start, count, payload: Uint8Array.of(0x90) });
    bad(chunk(2 ** 53 - 2, 4));
    expect(parseClientMessage(chunk(2 ** 53 - 2, 2))).toMatchObject({ start: 2 ** 53 - 2, count: 2 });
  });

  it('steering: a batch priority in -1000..1000 (0 left off), a hello weight in 1..1000 and maxWorkers of 1 or more', () => {
    const open = (priority: unknown): unknown => ({
      type: 'batch.open',
      id: 1,
      task: { kind: 'module', url: 'file:///x.mjs', name: 'f' },
      timeoutMs: 0,
      retries: 0,
      priority,
    });
    expect(parseClientMessage(open(-1000))).toMatchObject({ priority: -1000 });
    expect(parseClientMessage(open(1000))).toMatchObject({ priority: 1000 });
    expect(parseClientMessage(open(0))).not.toHaveProperty('priority');
    expect(parseClientMessage(open(undefined))).not.toHaveProperty('priority');
    for (const p of [1001, -1001, 1.5, Number.NaN, Infinity, '1', true]) bad(open(p));
    const hello = (o: object): unknown => ({ type: 'hello', v: 1, token: 't', ...o });
    expect(parseClientMessage(hello({ weight: 3, maxWorkers: 2 }))).toMatchObject({ weight: 3, maxWorkers: 2 });
    for (const weight of [0, -1, 1001, 2.5, '2', Number.NaN]) bad(hello({ weight }));
    for (const maxWorkers of [0, -1, 1.5, Infinity, '2']) bad(hello({ maxWorkers }));
  });
});

describe('parseServerMessage', () => {
  it("keeps a welcome's acks flag only when it is true (an older daemon sends none: the SDK then sends no ack message)", () => {
    const base = { type: 'welcome', v: 1, clientId: 3, workers: 2, pid: 9 };
    expect(parseServerMessage({ ...base, acks: true })).toEqual({ ...base, acks: true });
    expect(parseServerMessage({ ...base, acks: 'yes' })).toEqual(base);
    expect(parseServerMessage(base)).toEqual(base);
  });

  it("keeps a welcome's soloChunkMs when it is a positive count, capped at MAX_SOLO_CHUNK_TARGET_MS", () => {
    const base = { type: 'welcome', v: 1, clientId: 3, workers: 2, pid: 9 };
    expect(parseServerMessage({ ...base, soloChunkMs: 500 })).toEqual({ ...base, soloChunkMs: 500 });
    expect(parseServerMessage({ ...base, soloChunkMs: 1e9 })).toEqual({ ...base, soloChunkMs: MAX_SOLO_CHUNK_TARGET_MS });
    for (const bad of [0, -5, 2.5, '500', null]) expect(parseServerMessage({ ...base, soloChunkMs: bad })).toEqual(base);
  });

  it("keeps a welcome's sourcesByHash only when it is true", () => {
    const base = { type: 'welcome', v: 1, clientId: 1, workers: 2, pid: 3 };
    expect(parseServerMessage({ ...base, sourcesByHash: true })).toEqual({ ...base, sourcesByHash: true });
    for (const bad of [false, 1, 'true', null]) expect(parseServerMessage({ ...base, sourcesByHash: bad })).toEqual(base);
  });

  it("keeps a chunk result's worker count (cluster mode), only when it is a count", () => {
    const base = { type: 'chunk.result', id: 1, start: 0, count: 1, payload: new Uint8Array([0x90]), errors: [], ms: 2, load: 1 };
    expect(parseServerMessage({ ...base, workers: 6 })).toEqual({ ...base, workers: 6 });
    expect(parseServerMessage({ ...base, workers: 0 })).toEqual(base);
    expect(parseServerMessage(base)).toEqual(base);
  });

  it('keeps the deleted flag of a keyless push (a Value or Dict deleted)', () => {
    expect(parseServerMessage({ type: 'push', kind: 'value', name: 'v', version: 3, deleted: true })).toEqual({
      type: 'push',
      kind: 'value',
      name: 'v',
      version: 3,
      deleted: true,
    });
  });

  it("keeps a push's fields, the resync flag of cluster mode included", () => {
    const base = { type: 'push', kind: 'value', name: 'v', version: 0 };
    expect(parseServerMessage({ ...base, resync: true })).toEqual({ ...base, resync: true });
    expect(parseServerMessage({ ...base, resync: 'yes' })).toEqual(base);
    const del = { type: 'push', kind: 'dict', name: 'd', version: 3, key: 'k', deleted: true };
    expect(parseServerMessage(del)).toEqual(del);
  });

  it('keeps only known error fields and codes', () => {
    const m = parseServerMessage({ type: 'batch.error', id: 1, error: { code: 'E_WHATEVER', message: 'm', index: 3, extra: 1 } });
    expect(m).toEqual({ type: 'batch.error', id: 1, error: { code: 'E_INTERNAL', message: 'm', index: 3 } });
  });

  it('keeps every error detail the table lists, and drops one of the wrong type', () => {
    // Built from the table, so a detail added to ErrorDetails (and so to DETAIL_TYPES) is covered here too.
    const details = Object.fromEntries(DETAIL_KEYS.map((k, i) => [k, DETAIL_TYPES[k] === 'number' ? i + 1 : `text ${i}`]));
    const sent = new TaskError('boom', details).toWire();
    expect(Object.keys(sent).sort()).toEqual(['code', 'message', ...DETAIL_KEYS].sort());
    const m = parseServerMessage({ type: 'error', error: sent });
    expect(m).toEqual({ type: 'error', error: sent });
    expect(fromWire(m.type === 'error' ? m.error : sent)).toMatchObject(details);

    const wrong = Object.fromEntries(DETAIL_KEYS.map((k) => [k, DETAIL_TYPES[k] === 'number' ? 'text' : 1]));
    expect(parseServerMessage({ type: 'error', error: { code: 'E_TASK_FAILED', message: 'm', ...wrong } })).toEqual({
      type: 'error',
      error: { code: 'E_TASK_FAILED', message: 'm' },
    });
  });
});

describe('checkName', () => {
  it('a state name too long even to hold is E_BAD_NAME, as one over MAX_NAME_LENGTH is', () => {
    const long = { type: 'state', rid: 1, op: 'value.get', name: 'x'.repeat(100_000) };
    expect(() => parseClientMessage(long)).toThrow(expect.objectContaining({ code: 'E_BAD_NAME' }));
    expect(() => parseClientMessage({ ...long, name: 7 })).toThrow(expect.objectContaining({ code: 'E_BAD_MESSAGE' }));
  });

  it('wants a non-empty short string', () => {
    expect(checkName('hits')).toBeUndefined();
    expect(checkName('')).toBeDefined();
    expect(checkName(3)).toBeDefined();
    expect(checkName('x'.repeat(1000))).toBeDefined();
  });
});
