/** turn-share.ts alone: a connection's share of a turn, and the debt that work charged to it past its budget carries. */
import { describe, expect, it } from 'vitest';
import {
  LIGHT_MESSAGES,
  LIGHT_WINDOW_MS,
  MAX_DEBT_MS,
  SHARED_TURN_BUDGET_MS,
  TURN_BUDGET_MS,
  TurnBudgets,
  TurnShare,
} from '../src/primary/turn-share.js';

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

describe('TurnBudgets', () => {
  /** A busy connection (id 1) and a light one (id 2) on a clock the test moves. */
  function pair(): { busy: TurnShare; light: TurnShare; clock: { now: number } } {
    const clock = { now: 1000 };
    const budgets = new TurnBudgets(() => clock.now);
    return { busy: new TurnShare(budgets, 1), light: new TurnShare(budgets, 2), clock };
  }

  /** Spends connection `s`'s turn `turn` in charges of 0.01 ms; how much it took before it was spent. */
  function spend(s: TurnShare, turn: number): number {
    let ms = 0;
    while (!s.spent(turn)) {
      s.charge(turn, 0.01);
      ms += 0.01;
    }
    return ms;
  }

  it('a connection alone, or beside others that are busy too, keeps the whole budget', () => {
    const { busy, clock } = pair();
    const other = new TurnShare(new TurnBudgets(() => clock.now), 3);
    // Its first turn follows none: it begins light, as any new connection does, and it is its own light turn.
    expect(spend(busy, 1)).toBeCloseTo(TURN_BUDGET_MS, 5);
    for (let t = 2; t < 10; t++) {
      clock.now += 1;
      expect(spend(busy, t)).toBeCloseTo(TURN_BUDGET_MS, 5);
      expect(spend(other, t)).toBeCloseTo(TURN_BUDGET_MS, 5);
    }
  });

  it('beside a light connection, a busy one has the shared budget; LIGHT_WINDOW_MS after the light one was last about, the whole budget again', () => {
    const { busy, light, clock } = pair();
    spend(busy, 1);
    light.charge(1, 0.02);
    for (let t = 2; t < 10; t++) {
      clock.now += 1;
      // One small call a turn: never spent, so light at each turn it begins, and back within LIGHT_WINDOW_MS.
      light.charge(t, 0.02);
      expect(light.spent(t)).toBe(false);
      expect(spend(busy, t)).toBeCloseTo(SHARED_TURN_BUDGET_MS, 5);
    }
    clock.now += LIGHT_WINDOW_MS - 2;
    expect(spend(busy, 10)).toBeCloseTo(SHARED_TURN_BUDGET_MS, 5);
    clock.now += 2;
    expect(spend(busy, 11)).toBeCloseTo(TURN_BUDGET_MS, 5);
  });

  it('a connection that spent its last turn, or owes, is not light: beside it the others keep the whole budget', () => {
    const { busy, light, clock } = pair();
    spend(light, 1);
    clock.now += LIGHT_WINDOW_MS;
    spend(busy, 1);
    clock.now += LIGHT_WINDOW_MS;
    // Spent in turn 1: not light in turn 2.
    light.charge(2, 0.01);
    expect(spend(busy, 2)).toBeCloseTo(TURN_BUDGET_MS, 5);
    // One long call (turn 3 began light: turn 2 was not spent), then in debt for the turns after it, never light in them.
    light.charge(3, TURN_BUDGET_MS * 4);
    clock.now += LIGHT_WINDOW_MS;
    let owed = 0;
    for (let t = 4; light.spent(t); t++, owed++) expect(spend(busy, t)).toBeCloseTo(TURN_BUDGET_MS, 5);
    expect(owed).toBe(3);
  });

  it('many messages a turn, or one taking the shared budget, are not light, though under budget and its replies charged in the turns between', () => {
    const { busy, light, clock } = pair();
    spend(busy, 1);
    for (let t = 2; t < 20; t += 2) {
      // A frame of small messages under the budget, then a turn of its replies written (no message).
      for (let i = 0; i <= LIGHT_MESSAGES; i++) light.charge(t, 0.001, 1);
      expect(light.spent(t)).toBe(false);
      // (Its first turn is light, as a new connection's is.)
      clock.now += LIGHT_WINDOW_MS;
      light.charge(t + 1, 0.001);
      expect(spend(busy, t + 1)).toBeCloseTo(TURN_BUDGET_MS, 5);
    }
    for (let t = 20; t < 30; t += 2) {
      light.charge(t, SHARED_TURN_BUDGET_MS * 2, 1);
      clock.now += LIGHT_WINDOW_MS;
      light.charge(t + 1, 0.001);
      expect(spend(busy, t + 1)).toBeCloseTo(TURN_BUDGET_MS, 5);
    }
    // A call at a time again: light, and from its second such turn close behind the first, holding the others.
    light.charge(30, 0.01, 1);
    light.charge(31, 0.001);
    light.charge(32, 0.01, 1);
    expect(spend(busy, 32)).toBeCloseTo(SHARED_TURN_BUDGET_MS, 5);
  });

  it('a light connection back only now and then holds nobody: its light turns must come within LIGHT_WINDOW_MS of each other', () => {
    const { busy, light, clock } = pair();
    spend(busy, 1);
    for (let t = 2; t < 12; t++) {
      // A read every 3 windows: light each time, but the others gain nothing from shorter turns.
      clock.now += LIGHT_WINDOW_MS * 3;
      light.charge(t, 0.01, 1);
      expect(spend(busy, t)).toBeCloseTo(TURN_BUDGET_MS, 5);
    }
    // Back at once: held to the shared budget from its second quick turn.
    clock.now += 1;
    light.charge(12, 0.01, 1);
    expect(spend(busy, 12)).toBeCloseTo(SHARED_TURN_BUDGET_MS, 5);
  });

  it("a busy connection's debt is paid at the budget of the turns it pays in", () => {
    const { busy, light, clock } = pair();
    spend(busy, 1);
    busy.charge(1, 1);
    light.charge(1, 0.01);
    light.charge(2, 0.01);
    clock.now += 1;
    let held = 0;
    for (let t = 2; busy.spent(t); t++) {
      light.charge(t, 0.01);
      held++;
    }
    // 1 ms owed, 0.1 ms a turn.
    expect(held).toBe(Math.round(1 / SHARED_TURN_BUDGET_MS));
  });
});

describe("turnPayer (a lent worker's tasks, cluster mode)", () => {
  it("pays in the sessions' turns: spent once its budget is, its debt paid over later turns, apart from another payer", async () => {
    const { turnPayer } = await import('../src/primary/session.js');
    const { setImmediate: nextTurn } = await import('node:timers/promises');
    const lent = turnPayer();
    const other = turnPayer();
    expect(lent.spent()).toBe(false);
    lent.charge(TURN_BUDGET_MS * 4, 1);
    expect(lent.spent()).toBe(true);
    expect(other.spent()).toBe(false);
    // The turn ends on its own (nothing else here ends it): the debt is paid a budget a turn.
    let turns = 0;
    while (lent.spent() && turns < 100) {
      await nextTurn();
      turns++;
    }
    expect(turns).toBeGreaterThanOrEqual(3);
    expect(turns).toBeLessThan(100);
  });
});
