/**
 * The daemon-wide send budget (send-budget.ts): connections above their high-water mark share it;
 * over it, those that have taken nothing for STALE_MS are cut off, the stalest first, and never one
 * still taking bytes.
 */
import { describe, expect, it } from 'vitest';
import { SendBudget, STALE_MS, sendBudgetBytes, type OverHighWater } from '../src/primary/send-budget.js';
import { FakeClock } from './support/fake-clock.js';

class Conn implements OverHighWater {
  cut = false;
  constructor(
    public buffered: number,
    public takenSince: number,
  ) {}
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
    a.takenSince = clock.now(); // a reads on; c does not
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
});
