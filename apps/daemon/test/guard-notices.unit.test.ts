/**
 * What the primary reads on a worker's guard socket (channel.ts, readGuardNotices): the orphan guard's
 * one notice, whole or in pieces; anything else a task writes there ends the reading.
 */
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LEFTOVER_NOTICE, readGuardNotices } from '../src/channel.js';

const notice = (): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(LEFTOVER_NOTICE);
  return b;
};

/** A stream standing in for the guard socket, and how many notices were heard. */
function reader(): { guard: PassThrough; heard: () => number } {
  const guard = new PassThrough();
  let n = 0;
  readGuardNotices(guard as unknown as Socket, () => n++);
  return { guard, heard: () => n };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('readGuardNotices', () => {
  it('hears the notice whole, and in pieces', async () => {
    const whole = reader();
    whole.guard.write(notice());
    await tick();
    expect(whole.heard()).toBe(1);

    const pieces = reader();
    const b = notice();
    pieces.guard.write(b.subarray(0, 1));
    await tick();
    pieces.guard.write(b.subarray(1));
    await tick();
    expect(pieces.heard()).toBe(1);
  });

  it('stops reading at anything else a task writes there, notices after it included', async () => {
    const r = reader();
    r.guard.write(Buffer.from([1, 2, 3, 4]));
    await tick();
    r.guard.write(notice());
    await tick();
    expect(r.heard()).toBe(0);
    expect(r.guard.listenerCount('data')).toBe(0);

    const glued = reader();
    glued.guard.write(Buffer.concat([notice(), notice()])); // more than one notice at once: not the guard's
    await tick();
    expect(glued.heard()).toBe(0);
  });
});
