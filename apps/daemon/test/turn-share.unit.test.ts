/** turn-share.ts alone: a connection's share of a turn, and the debt that work charged to it past its budget carries. */
import { describe, expect, it } from 'vitest';
import { MAX_DEBT_MS, TURN_BUDGET_MS, TurnShare } from '../src/primary/turn-share.js';

describe('TurnShare', () => {
  it("messages spend a turn's budget; a new turn starts from what passed it", () => {
    const s = new TurnShare();
    expect(s.spent(1)).toBe(false);
    s.charge(1, TURN_BUDGET_MS * 0.5);
    expect(s.spent(1)).toBe(false);
    s.charge(1, TURN_BUDGET_MS * 0.75);
    expect(s.spent(1)).toBe(true);
    // A quarter of the budget passed it: the next turn starts there, and is not spent.
    expect(s.spent(2)).toBe(false);
    expect(s.debt).toBe(0);
    s.charge(2, TURN_BUDGET_MS * 0.5);
    expect(s.spent(2)).toBe(false);
  });

  it('one message ten budgets long: the connection is not read for the nine turns after it', () => {
    const s = new TurnShare();
    s.charge(1, TURN_BUDGET_MS * 10);
    let held = 0;
    for (let t = 2; s.spent(t); t++) held++;
    expect(held).toBe(9);
  });

  it('work charged past the budget is a debt paid a budget a turn: the connection is not read until it is paid', () => {
    const s = new TurnShare();
    // 80 timeouts of 125 us in one turn (binary fractions: exact sums): 10 ms of work, 20 budgets.
    for (let i = 0; i < 80; i++) s.charge(1, 0.125);
    expect(s.spent(1)).toBe(true);
    expect(s.debt).toBe(10 - TURN_BUDGET_MS);
    let held = 0;
    for (let t = 2; s.spent(t); t++) held++;
    expect(held).toBe(19);
    expect(s.debt).toBe(0);
  });

  it('the debt is capped: a connection is never left unread for more than MAX_DEBT_MS worth of turns', () => {
    const s = new TurnShare();
    for (let i = 0; i < 100_000; i++) s.charge(1, 0.125);
    expect(s.debt).toBe(MAX_DEBT_MS);
  });

  it('a charge within the budget is no debt', () => {
    const s = new TurnShare();
    s.charge(1, 0.1);
    s.charge(1, 0.1);
    expect([s.spent(1), s.debt]).toEqual([false, 0]);
  });
});
