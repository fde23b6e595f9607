/**
 * The send buffer against a fake socket whose write callbacks the test fires
 * (the kernel taking frames), with fake timers that never advance: whatever
 * waits moves on, and the drain event comes, from write callbacks alone; the
 * soft cap runs on a fake clock the test moves by hand.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeMessage, type Push, type ServerMessage } from '@corepool/protocol';
import { Outflow, type OutflowHost, type OutflowSocket } from '../src/primary/outflow.js';
import { FakeClock } from './support/fake-clock.js';

const KiB = 1024;

/** A socket that holds each frame until the test lets the kernel take it. */
class FakeSocket implements OutflowSocket {
  bufferedAmount = 0;
  readonly frames: Uint8Array[] = [];
  readonly #inFlight: (() => void)[] = [];

  send(frame: Uint8Array, cb: (err?: Error) => void): void {
    this.frames.push(frame);
    this.bufferedAmount += frame.length;
    this.#inFlight.push(() => {
      // As a Node stream does: the bytes leave the buffer, then the callback runs.
      this.bufferedAmount -= frame.length;
      cb();
    });
  }

  /** The kernel takes the oldest `n` frames still buffered. */
  take(n = Infinity): void {
    for (; n > 0 && this.#inFlight.length > 0; n--) this.#inFlight.shift()!();
  }

  /** Every message written so far, in order (coalesced frames unpacked). */
  messages(): ServerMessage[] {
    return this.frames.flatMap((f) => {
      const m = decodeMessage(f);
      return (Array.isArray(m) ? m : [m]) as ServerMessage[];
    });
  }
}

class Host implements OutflowHost {
  readonly events: string[] = [];
  pauseReading(): void {
    this.events.push('pause');
  }
  resumeReading(): void {
    this.events.push('resume');
  }
  cutOff(why: string): void {
    this.events.push(`cut off: ${why}`);
  }
  /** The ms drained() takes, as the results it sends would (on the fake timers' clock, which performance.now() reads). */
  drainedMs = 0;
  charged = 0;
  drained(): void {
    this.events.push('drained');
    if (this.drainedMs > 0) vi.advanceTimersByTime(this.drainedMs);
  }
  charge(ms: number): void {
    this.charged += ms;
  }
}

/** Lets the outbox flush what one tick queued (it flushes on a resolved promise). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

const reply = (rid: number, bytes: number): ServerMessage => ({ type: 'reply', rid, ok: true, value: new Uint8Array(bytes) });
const rids = (ms: ServerMessage[]): number[] => ms.flatMap((m) => (m.type === 'reply' ? [m.rid] : []));

let socket: FakeSocket;
let host: Host;
let out: Outflow;
let clock: FakeClock;
beforeEach(() => {
  vi.useFakeTimers();
  socket = new FakeSocket();
  host = new Host();
  clock = new FakeClock();
  out = new Outflow(socket, { highWater: 64 * KiB, hardCap: 1024 * KiB, softCapMs: 60_000, maxPayload: 512 * KiB }, host, clock);
});
afterEach(() => {
  out.close();
  vi.useRealTimers();
});

describe('Outflow drain event', () => {
  it('canReceive() false, then drained() once a write callback takes the socket below the mark', () => {
    out.send(reply(1, 40 * KiB));
    expect(out.canReceive()).toBe(true);
    out.send(reply(2, 40 * KiB));
    expect(out.canReceive()).toBe(false);
    expect(host.events).toEqual([]);
    socket.take(1);
    expect(host.events).toEqual(['drained']);
    expect(out.canReceive()).toBe(true);
    socket.take();
    expect(host.events).toEqual(['drained']);
  });

  it('charges the client what moves on in a write callback: its waiting replies written, what drained() sent', async () => {
    out.send(reply(1, 40 * KiB));
    out.send(reply(2, 40 * KiB));
    expect(out.canReceive()).toBe(false);
    host.drainedMs = 3;
    socket.take(1);
    expect(host.events).toEqual(['drained']);
    expect(host.charged).toBe(3);
    // No room made: nothing moves on, nothing is charged.
    const before = host.charged;
    for (let rid = 3; rid <= 6; rid++) out.send(reply(rid, 40 * KiB));
    await settle();
    expect(host.charged).toBe(before);
  });

  it('no drained() when nobody was told it could not receive', () => {
    out.send(reply(1, 40 * KiB));
    out.send(reply(2, 40 * KiB));
    socket.take();
    expect(host.events).toEqual([]);
  });

  it('no drained() while the socket is still above the mark', () => {
    for (let rid = 1; rid <= 3; rid++) out.send(reply(rid, 40 * KiB));
    expect(out.canReceive()).toBe(false);
    // Room for the third reply, which takes the socket above the mark again.
    socket.take(1);
    expect(host.events).toEqual(['pause', 'resume']);
    expect(out.canReceive()).toBe(false);
    socket.take(1);
    expect(host.events).toEqual(['pause', 'resume', 'drained']);
  });

  it('what waits moves on in order when callbacks make room; reading pauses, resumes, then drained()', async () => {
    out.send(reply(1, 40 * KiB));
    out.send(reply(2, 40 * KiB));
    for (let rid = 3; rid <= 5; rid++) out.send(reply(rid, 100));
    expect(host.events).toEqual(['pause']);
    expect(out.canReceive()).toBe(false);
    await settle();
    expect(rids(socket.messages())).toEqual([1, 2]);
    socket.take(1);
    expect(host.events).toEqual(['pause', 'resume', 'drained']);
    expect(rids(socket.messages())).toEqual([1, 2, 3, 4, 5]);
  });

  it('waiting pushes coalesce to the latest per key and follow the waiting replies', async () => {
    out.send(reply(1, 40 * KiB));
    out.send(reply(2, 40 * KiB));
    out.send(reply(3, 100));
    const push = (version: number, key: string): Push => ({
      type: 'push',
      kind: 'dict',
      name: 'd',
      key,
      version,
      value: new Uint8Array([version]),
    });
    out.push(push(1, 'a'));
    out.push(push(2, 'b'));
    out.push(push(3, 'a'));
    await settle();
    socket.take(1);
    const after = socket.messages().slice(2);
    expect(after.map((m) => (m.type === 'push' ? `push ${m.key}@${m.version}` : `reply ${(m as { rid: number }).rid}`))).toEqual([
      'reply 3',
      'push b@2',
      'push a@3',
    ]);
  });

  it('a large backlog leaves in as many rounds as it takes, each started by a write callback', async () => {
    out.send(reply(1, 40 * KiB));
    out.send(reply(2, 40 * KiB));
    for (let rid = 3; rid <= 12; rid++) out.send(reply(rid, 30 * KiB));
    expect(out.canReceive()).toBe(false);
    for (let round = 0; round < 20 && host.events.at(-1) !== 'drained'; round++) {
      socket.take(1);
      await settle();
    }
    expect(rids(socket.messages())).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(host.events).toEqual(['pause', 'resume', 'drained']);
  });

  it('after close, callbacks move nothing and tell nobody', () => {
    out.send(reply(1, 40 * KiB));
    out.send(reply(2, 40 * KiB));
    out.send(reply(3, 100));
    expect(out.canReceive()).toBe(false);
    out.close();
    socket.take();
    expect(host.events).toEqual(['pause']);
    expect(rids(socket.messages())).toEqual([1, 2]);
  });
});

describe('Outflow pushes', () => {
  it('a large push goes to every subscriber as the same bytes, encoded once; a small one is encoded for each', async () => {
    const other = new FakeSocket();
    const out2 = new Outflow(
      other,
      { highWater: 64 * KiB, hardCap: 1024 * KiB, softCapMs: 60_000, maxPayload: 512 * KiB },
      new Host(),
      clock,
    );
    const large: Push = { type: 'push', kind: 'value', name: 'v', version: 1, value: new Uint8Array(32 * KiB).fill(7) };
    out.push(large);
    out2.push(large);
    await settle();
    expect(socket.frames.length).toBe(1);
    expect(other.frames[0]).toBe(socket.frames[0]);
    const [sent] = socket.messages() as Push[];
    expect(sent).toMatchObject({ kind: 'value', name: 'v', version: 1 });
    expect(Buffer.from(sent!.value!).equals(Buffer.from(large.value!))).toBe(true);
    const small: Push = { type: 'push', kind: 'value', name: 'v', version: 2, value: new Uint8Array(8) };
    out.push(small);
    out2.push(small);
    await settle();
    expect(other.frames[1]).not.toBe(socket.frames[1]);
    expect(other.messages()[1]).toMatchObject({ version: 2 });
    out2.close();
  });
});

describe('Outflow soft cap', () => {
  /** Three frames (10, 30 and 40 KiB), the last taking the socket above the 64 KiB mark. */
  async function aboveTheMark(): Promise<void> {
    for (const [rid, size] of [
      [1, 10 * KiB],
      [2, 30 * KiB],
      [3, 40 * KiB],
    ] as const) {
      out.send(reply(rid, size));
      await settle();
    }
    expect(socket.frames).toHaveLength(3);
    expect(socket.bufferedAmount).toBeGreaterThanOrEqual(64 * KiB);
  }

  /** The client is cut off `ms` from now, and not a millisecond sooner. */
  function cutOffIn(ms: number): void {
    clock.advance(ms - 1);
    expect(host.events).toEqual([]);
    clock.advance(1);
    expect(host.events).toEqual(['cut off: time above high water']);
  }

  it('cuts off a client that takes nothing for softCapMs above the mark, and not sooner', async () => {
    await aboveTheMark();
    cutOffIn(60_000);
  });

  it('does not cut off a client that keeps taking bytes; softCapMs counts from its last progress', async () => {
    await aboveTheMark();
    clock.advance(50_000);
    socket.take(1); // still above the mark, but the client read
    expect(socket.bufferedAmount).toBeGreaterThanOrEqual(64 * KiB);
    // The timer set at the start finds the progress and is set again for what is left.
    cutOffIn(60_000);
  });

  it('below the mark again, the soft cap is off (no timer left)', async () => {
    await aboveTheMark();
    expect(clock.pending).toBe(1);
    socket.take(2);
    expect(socket.bufferedAmount).toBeLessThan(64 * KiB);
    expect(clock.pending).toBe(0);
    clock.advance(120_000);
    expect(host.events).toEqual([]);
  });

  it('after close, the soft cap never fires', async () => {
    await aboveTheMark();
    out.close();
    clock.advance(120_000);
    expect(host.events).toEqual([]);
  });
});

describe('Outflow.reply (a successful reply carrying bytes, without the object)', () => {
  it('writes what send() of the same reply writes, byte for byte', async () => {
    const viaSend = new FakeSocket();
    const sent = new Outflow(
      viaSend,
      { highWater: 64 * KiB, hardCap: 1024 * KiB, softCapMs: 60_000, maxPayload: 512 * KiB },
      new Host(),
      clock,
    );
    for (const [rid, bytes] of [
      [1, 0],
      [200, 3],
      [70_000, 300],
      [2 ** 32, 5],
    ] as const) {
      out.reply(rid, new Uint8Array(bytes).fill(rid % 251), 'value.add');
      sent.send({ type: 'reply', rid, ok: true, value: new Uint8Array(bytes).fill(rid % 251) }, 'value.add');
    }
    await settle();
    expect(socket.frames.map((f) => Buffer.from(f).toString('hex'))).toEqual(viaSend.frames.map((f) => Buffer.from(f).toString('hex')));
    sent.close();
  });

  it('waits behind what waits, in order, like send()', async () => {
    out.send(reply(1, 40 * KiB));
    out.send(reply(2, 40 * KiB));
    out.reply(3, new Uint8Array(10));
    out.send(reply(4, 10));
    out.reply(5, new Uint8Array(10));
    await settle();
    expect(rids(socket.messages())).toEqual([1, 2]);
    socket.take(1);
    await settle();
    expect(rids(socket.messages())).toEqual([1, 2, 3, 4, 5]);
  });

  it('a value over what one reply may carry is answered with E_TOO_LARGE, as by send()', async () => {
    out.reply(9, new Uint8Array(600 * KiB), 'value.get');
    await settle();
    const [m] = socket.messages();
    expect(m).toMatchObject({ type: 'reply', rid: 9, ok: false, error: { code: 'E_TOO_LARGE' } });
  });
});
