/**
 * The daemon-wide send budget (send-budget.ts): connections above their high-water mark share it;
 * over it, those that have taken nothing for STALE_MS are cut off, the stalest first, and never one
 * still taking bytes.
 */
import { describe, expect, it } from 'vitest';
import { Outflow, type OutflowHost, type OutflowSocket } from '../src/primary/outflow.js';
import { SendBudget, STALE_MS, sendBudgetBytes, type HeldSend } from '../src/primary/send-budget.js';
import { FakeClock } from './support/fake-clock.js';

class Conn implements HeldSend {
  cut = false;
  constructor(
    public buffered: number,
    public since: number,
  ) {}
  takenSince(): number {
    return this.since;
  }
  cutOffOverBudget(): void {
    this.cut = true;
  }
}

describe('SendBudget', () => {
  it('is room for 32 connections at the mark, or 2 at the hard cap', () => {
    expect(sendBudgetBytes(8 << 20, 32 << 20)).toBe(256 << 20);
    expect(sendBudgetBytes(64 << 10, 4 << 20)).toBe(8 << 20);
  });

  it('within the budget, cuts nothing', () => {
    const clock = new FakeClock();
    const b = new SendBudget(100, clock);
    const a = new Conn(50, clock.now() - 10 * STALE_MS);
    const c = new Conn(50, clock.now() - 10 * STALE_MS);
    b.enter(a);
    b.enter(c);
    expect([a.cut, c.cut]).toEqual([false, false]);
    expect(b.held).toBe(100);
  });

  it('over it, cuts the stalest first, and only as many as it takes', () => {
    const clock = new FakeClock();
    clock.advance(10 * STALE_MS);
    const b = new SendBudget(100, clock);
    const oldest = new Conn(60, clock.now() - 5 * STALE_MS);
    const older = new Conn(60, clock.now() - 3 * STALE_MS);
    const fresh = new Conn(60, clock.now());
    b.enter(older);
    b.enter(oldest);
    expect([oldest.cut, older.cut]).toEqual([true, false]);
    b.enter(fresh);
    expect([older.cut, fresh.cut]).toEqual([true, false]);
    expect(b.held).toBe(60);
  });

  it('never cuts a connection that is still taking bytes: it looks again once one has taken nothing for STALE_MS', () => {
    const clock = new FakeClock();
    const b = new SendBudget(100, clock);
    const a = new Conn(80, clock.now());
    const c = new Conn(80, clock.now());
    b.enter(a);
    b.enter(c);
    expect([a.cut, c.cut]).toEqual([false, false]);
    clock.advance(STALE_MS / 2);
    a.since = clock.now(); // a reads on; c does not
    clock.advance(STALE_MS / 2);
    expect([a.cut, c.cut]).toEqual([false, true]);
  });

  it('forgets a connection that left', () => {
    const clock = new FakeClock();
    const b = new SendBudget(100, clock);
    const a = new Conn(80, clock.now() - 2 * STALE_MS);
    b.enter(a);
    b.leave(a);
    const c = new Conn(80, clock.now());
    b.enter(c);
    expect([a.cut, c.cut]).toEqual([false, false]);
  });

  it('with real send sides: a client taking a large frame slowly is not stale (the kernel took part of it); one taking nothing is cut off', async () => {
    /** A socket whose one large frame the kernel takes bit by bit: `unsent` falls before bufferedAmount does. */
    class SlowSocket implements OutflowSocket {
      bufferedAmount = 0;
      unsent: number | undefined = 0;
      send(frame: Uint8Array): void {
        this.bufferedAmount += frame.length;
        this.unsent = (this.unsent ?? 0) + frame.length;
      }
    }
    const cuts: string[] = [];
    const host = (name: string): OutflowHost => ({
      pauseReading: () => {},
      resumeReading: () => {},
      cutOff: (why) => cuts.push(`${name}: ${why}`),
      drained: () => {},
      charge: () => {},
    });
    const clock = new FakeClock();
    const shared = new SendBudget(150 * 1024, clock);
    const limits = { highWater: 64 * 1024, hardCap: 1024 * 1024, softCapMs: 60_000, maxPayload: 1024 * 1024, shared };
    const reading = new SlowSocket();
    const stalled = new SlowSocket();
    const outReading = new Outflow(reading, limits, host('reading'), clock);
    const outStalled = new Outflow(stalled, limits, host('stalled'), clock);
    const big = { type: 'push', kind: 'value', name: 'v', version: 1, value: new Uint8Array(100 * 1024) } as const;
    outReading.push(big);
    outStalled.push(big);
    for (let i = 0; i < 5; i++) await Promise.resolve(); // the outboxes flush
    expect(shared.held).toBeGreaterThan(150 * 1024);
    expect(cuts).toEqual([]); // neither is stale yet
    for (let t = 0; t < 4; t++) {
      clock.advance(STALE_MS / 2);
      reading.unsent = Math.max(0, reading.unsent! - 10 * 1024); // the kernel takes a little of the reading client's frame
    }
    expect(cuts).toEqual(['stalled: send budget']);
    outReading.close();
    outStalled.close();
  });
});
