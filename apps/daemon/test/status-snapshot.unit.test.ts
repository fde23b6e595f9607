/** StatusSnapshots: a status is made again once the last is REUSE_FACTOR times as old as it cost, or the clients changed; each reply its own buffer. */
import { describe, expect, it } from 'vitest';
import type { DaemonStatus } from '@corepool/protocol';
import { decodeMessage, encodeReply } from '@corepool/protocol/internal';
import { REUSE_FACTOR, StatusSnapshots } from '../src/primary/status-snapshot.js';

/** A clock the test moves, and a status maker that takes `costMs` of it. */
function snapshots(costMs: number) {
  let now = 1000;
  let made = 0;
  let clients = 0;
  const s = new StatusSnapshots(
    () => {
      made++;
      now += costMs;
      return { pid: made } as unknown as DaemonStatus;
    },
    () => clients,
    () => now,
  );
  return { s, made: () => made, advance: (ms: number) => (now += ms), clientChange: () => clients++ };
}

describe('StatusSnapshots', () => {
  it('serves the last status while it is younger than REUSE_FACTOR times its cost, then makes another', () => {
    const { s, made, advance } = snapshots(2);
    expect(s.current()).toMatchObject({ pid: 1 });
    advance(2 * REUSE_FACTOR - 2); // made at 1000, it took 2 ms: reused up to 40 ms after it began
    expect(s.current()).toMatchObject({ pid: 1 });
    advance(1);
    expect(s.current()).toMatchObject({ pid: 2 });
    expect(made()).toBe(2);
  });

  it('makes another once a client connected or left, however young the last', () => {
    const { s, clientChange } = snapshots(50);
    expect(s.current()).toMatchObject({ pid: 1 });
    expect(s.current()).toMatchObject({ pid: 1 });
    clientChange();
    expect(s.current()).toMatchObject({ pid: 2 });
  });

  it('makes a cheap status again for a request a moment later', () => {
    const { s, advance } = snapshots(0.01);
    expect(s.current()).toMatchObject({ pid: 1 });
    advance(1);
    expect(s.current()).toMatchObject({ pid: 2 });
  });

  it('gives each reply its own buffer, whose bytes are the status as a reply', () => {
    const { s } = snapshots(5);
    const a = s.reply();
    const b = s.reply();
    expect(a.buf).not.toBe(b.buf);
    // Writing one reply's envelope leaves the other's bytes as they were.
    const ra = encodeReply(7, a);
    const rb = encodeReply(8, b);
    expect(decodeMessage(ra)).toEqual({ type: 'reply', rid: 7, ok: true, value: { pid: 1 } });
    expect(decodeMessage(rb)).toEqual({ type: 'reply', rid: 8, ok: true, value: { pid: 1 } });
  });
});
