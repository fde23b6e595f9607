/**
 * StateFlow's window on its own: the connection is held once `window` counted
 * requests are unanswered, released in a later turn once fewer than half are,
 * calls that may wait on another client never count, and a dict listing
 * counts for an eighth of the window.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { StateRequest } from '@corepool/protocol';
import { StateFlow } from '../src/primary/state-flow.js';

const add: StateRequest = { op: 'value.add', name: 'n', a: new Uint8Array([1]) };
const get: StateRequest = { op: 'queue.get', name: 'q' };
const acquire: StateRequest = { op: 'lock.acquire', name: 'l' };
const keys: StateRequest = { op: 'dict.keys', name: 'd' };
const entries: StateRequest = { op: 'dict.entries', name: 'd' };

function flow(window: number) {
  const calls: string[] = [];
  const f = new StateFlow({ hold: () => calls.push('hold'), release: () => calls.push('release') }, window);
  return { f, calls };
}

describe('StateFlow', () => {
  it('holds at the window and releases in a later turn once under half', async () => {
    const { f, calls } = flow(4);
    for (let i = 0; i < 3; i++) f.sent(add);
    expect(calls).toEqual([]);
    f.sent(add);
    expect(calls).toEqual(['hold']);
    f.sent(add); // more arrive from ws's buffers while held: counted, no second hold
    expect(calls).toEqual(['hold']);
    f.answered(add);
    f.answered(add);
    f.answered(add); // 2 left: not under half of 4
    await nextTurn();
    expect(calls).toEqual(['hold']);
    f.answered(add); // 1 left
    expect(calls).toEqual(['hold']);
    await nextTurn();
    expect(calls).toEqual(['hold', 'release']);
  });

  it('does not release when the count rose again before its turn came', async () => {
    const { f, calls } = flow(4);
    for (let i = 0; i < 4; i++) f.sent(add);
    for (let i = 0; i < 3; i++) f.answered(add);
    f.sent(add);
    f.sent(add); // 3 unanswered when the release runs
    await nextTurn();
    expect(calls).toEqual(['hold']);
  });

  it('never counts queue.get or lock.acquire', async () => {
    const { f, calls } = flow(2);
    for (let i = 0; i < 100; i++) {
      f.sent(get);
      f.sent(acquire);
    }
    expect(calls).toEqual([]);
    f.sent(add);
    f.sent(add);
    expect(calls).toEqual(['hold']);
    for (let i = 0; i < 100; i++) f.answered(get);
    await nextTurn();
    expect(calls).toEqual(['hold']);
    f.answered(add);
    f.answered(add);
    await nextTurn();
    expect(calls).toEqual(['hold', 'release']);
  });

  it('counts a dict listing for an eighth of the window', async () => {
    const { f, calls } = flow(256);
    for (let i = 0; i < 7; i++) f.sent(i % 2 === 0 ? keys : entries);
    expect(calls).toEqual([]);
    f.sent(keys);
    expect(calls).toEqual(['hold']);
    for (let i = 0; i < 4; i++) f.answered(keys); // 128 left: not under half
    await nextTurn();
    expect(calls).toEqual(['hold']);
    f.answered(entries);
    await nextTurn();
    expect(calls).toEqual(['hold', 'release']);
  });
});
