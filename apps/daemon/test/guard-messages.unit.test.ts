/**
 * What the primary reads on a worker's guard socket (guard-messages.ts, readGuardMessages): the
 * orphan guard's one leftover notice and the answers to withdrawals, whole, in pieces or several
 * at once; no more answers than were asked for, and anything else a task writes there ends the
 * reading for good, told as corrupt (the supervisor replaces the worker).
 */
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { GUARD_MESSAGE_BYTES, GuardOp, guardMessage, readGuardMessages, type WithdrawOutcome } from '../src/guard-messages.js';

/** A stream standing in for the guard socket, what was heard, and `owed` answers allowed. */
function reader(owed = 0): { guard: PassThrough; leftovers: () => number; answers: [number, WithdrawOutcome][]; corrupt: string[] } {
  const guard = new PassThrough();
  let n = 0;
  let left = owed;
  const answers: [number, WithdrawOutcome][] = [];
  const corrupt: string[] = [];
  readGuardMessages(guard as unknown as Socket, {
    leftover: () => n++,
    owed: () => left,
    answer: (key, outcome) => {
      left--;
      answers.push([key, outcome]);
    },
    corrupt: (why) => corrupt.push(why),
  });
  return { guard, leftovers: () => n, answers, corrupt };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('readGuardMessages', () => {
  it('hears the leftover notice whole, and in pieces', async () => {
    const whole = reader();
    whole.guard.write(guardMessage(GuardOp.leftover, 0));
    await tick();
    expect(whole.leftovers()).toBe(1);

    const pieces = reader();
    const b = guardMessage(GuardOp.leftover, 0);
    pieces.guard.write(b.subarray(0, 1));
    await tick();
    pieces.guard.write(b.subarray(1, 7));
    await tick();
    expect(pieces.leftovers()).toBe(0);
    pieces.guard.write(b.subarray(7));
    await tick();
    expect(pieces.leftovers()).toBe(1);
  });

  it('hears answers to withdrawals, several at once and keys past 2^31, up to the number asked', async () => {
    const r = reader(3);
    const big = 2 ** 40 + 7;
    r.guard.write(Buffer.concat([guardMessage(GuardOp.withdrawn, 5), guardMessage(GuardOp.kept, big)]));
    await tick();
    expect(r.answers).toEqual([
      [5, 'withdrawn'],
      [big, 'kept'],
    ]);
    r.guard.write(guardMessage(GuardOp.full, 9));
    await tick();
    expect(r.answers.at(-1)).toEqual([9, 'full']);
    // A fourth was never asked for: a task wrote it, and nothing more is read.
    r.guard.write(Buffer.concat([guardMessage(GuardOp.withdrawn, 10), guardMessage(GuardOp.leftover, 0)]));
    await tick();
    expect(r.answers).toHaveLength(3);
    expect(r.leftovers()).toBe(0);
    expect(r.guard.listenerCount('data')).toBe(0);
    expect(r.corrupt).toEqual(['an answer to no withdrawal']);
  });

  it('stops reading at anything else a task writes there, messages after it included', async () => {
    const junk = reader(5);
    junk.guard.write(Buffer.alloc(GUARD_MESSAGE_BYTES, 7));
    await tick();
    junk.guard.write(guardMessage(GuardOp.leftover, 0));
    await tick();
    expect(junk.leftovers()).toBe(0);
    expect(junk.guard.listenerCount('data')).toBe(0);
    expect(junk.corrupt).toEqual(['unknown operation 117901063']);

    const twice = reader();
    twice.guard.write(Buffer.concat([guardMessage(GuardOp.leftover, 0), guardMessage(GuardOp.leftover, 0)])); // the guard tells it once
    await tick();
    expect(twice.leftovers()).toBe(1);
    expect(twice.corrupt).toEqual(['a second leftover notice']);

    const fraction = reader(1);
    fraction.guard.write(guardMessage(GuardOp.withdrawn, 1.5)); // not a key
    await tick();
    expect(fraction.answers).toEqual([]);
    expect(fraction.corrupt).toEqual(['an answer to no withdrawal']);
  });
});
