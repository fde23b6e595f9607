/**
 * statusSnapshots: every request gets a status made after it came; one that
 * comes sooner than REUSE_FACTOR times the last status's cost (its encoding
 * for a client included) waits for the next, which every request waiting then
 * shares (never over MAX_WAIT_MS); its bytes shared by every reply until
 * each is written, then each reply in its own buffer.
 */
import { describe, expect, it } from 'vitest';
import type { DaemonStatus } from '@corepool/protocol';
import { decodeMessage, encodeReply } from '@corepool/protocol/internal';
import { statusSnapshots, type MadeStatus } from '../src/primary/status-snapshot.js';
import { MAX_WAIT_MS, REUSE_FACTOR } from '../src/primary/paced.js';
import type { Clock } from '../src/primary/clock.js';
import { FakeClock } from './support/fake-clock.js';

/** Snapshots over a fake clock, of a status that takes `costMs` of it to make and says which one it is. */
function snapshots(costMs: number) {
  const fake = new FakeClock();
  // Making a status moves this clock on by its cost (a FakeClock moved by hand would fire timers from inside it).
  let spent = 0;
  const clock: Clock = { now: () => fake.now() + spent, after: (ms, fn) => fake.after(ms, fn) };
  let made = 0;
  const s = statusSnapshots(() => {
    made++;
    spent += costMs;
    return { pid: made } as unknown as DaemonStatus;
  }, clock);
  return { s, clock: fake, made: () => made };
}

/** The pid of the status a promise has settled with, or undefined while it waits (after a microtask's turn). */
async function settled(p: Promise<MadeStatus>): Promise<number | undefined> {
  let v: number | undefined;
  void p.then((m) => (v = (m.status as unknown as { pid: number }).pid));
  for (let i = 0; i < 3; i++) await Promise.resolve();
  return v;
}

describe('statusSnapshots', () => {
  it('makes the first status at once; one asked sooner waits for the next, shared by all that waited', async () => {
    const { s, clock, made } = snapshots(2);
    expect(await settled(s.next())).toBe(1);
    // Made at 1000, it took 2 ms: the next no sooner than 1002 + 2 * REUSE_FACTOR.
    const a = s.next();
    const b = s.next();
    expect(await settled(a)).toBeUndefined();
    clock.advance(2 * REUSE_FACTOR - 1);
    expect(await settled(a)).toBeUndefined();
    clock.advance(1);
    expect(await settled(a)).toBe(2);
    expect(await settled(b)).toBe(2);
    expect(made()).toBe(2);
  });

  it('makes a cheap status again for a request a moment later', async () => {
    const { s, clock } = snapshots(0.01);
    expect(await settled(s.next())).toBe(1);
    clock.advance(1);
    expect(await settled(s.next())).toBe(2);
  });

  it('never keeps a request waiting over MAX_WAIT_MS, however long the last status took', async () => {
    const { s, clock } = snapshots(500);
    expect(await settled(s.next())).toBe(1);
    const next = s.next();
    clock.advance(MAX_WAIT_MS - 1);
    expect(await settled(next)).toBeUndefined();
    clock.advance(1);
    expect(await settled(next)).toBe(2);
  });

  it('shares its bytes between replies until each is written, into a buffer of its own', async () => {
    const { s } = snapshots(5);
    const m = await s.next();
    const a = m.reply();
    const b = m.reply();
    expect(a.buf).toBe(b.buf);
    expect(a.shared).toBe(true);
    // Writing one reply's envelope leaves the other's bytes as they were.
    const ra = encodeReply(7, a);
    const rb = encodeReply(8, b);
    expect(decodeMessage(ra)).toEqual({ type: 'reply', rid: 7, ok: true, value: { pid: 1 } });
    expect(decodeMessage(rb)).toEqual({ type: 'reply', rid: 8, ok: true, value: { pid: 1 } });
    expect(ra.buffer).not.toBe(a.buf.buffer);
    expect(rb.buffer).not.toBe(ra.buffer);
  });

  it("makes the dashboard's JSON once per status, for every request that waited for it", async () => {
    const { s, clock } = snapshots(1);
    const made = await s.next();
    const a = made.json();
    expect(made.json()).toBe(a);
    expect(JSON.parse(a.toString('utf8'))).toEqual({ pid: 1 });
    // Requests meanwhile wait for the next status, as a client's do.
    const later = s.next();
    expect(await settled(later)).toBeUndefined();
    clock.advance(REUSE_FACTOR);
    expect((await later).json()).not.toBe(a);
  });
});
