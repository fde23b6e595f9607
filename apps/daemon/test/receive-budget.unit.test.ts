/** receive-budget.ts alone: what unfinished messages hold together, and who goes past the budget (the oldest holder first). */
import { describe, expect, it } from 'vitest';
import { ReceiveBudget, type Receiver } from '../src/primary/receive-budget.js';

function receiver(name: string, evicted: string[]): Receiver {
  return { held: 0, evict: () => evicted.push(name) };
}

describe('ReceiveBudget', () => {
  it('counts what each holds; past the limit the one holding the longest goes, then the next, until the rest fit', () => {
    const evicted: string[] = [];
    const budget = new ReceiveBudget(1000);
    const [a, b, c] = [receiver('a', evicted), receiver('b', evicted), receiver('c', evicted)];
    budget.update(a, 400);
    budget.update(b, 400);
    budget.update(a, 450); // a grows: it still started first
    expect([budget.total, evicted]).toEqual([850, []]);
    budget.update(c, 300);
    expect(evicted).toEqual(['a']);
    expect([budget.total, a.held]).toEqual([700, 0]);
    budget.update(c, 900); // c fits once b is gone too
    expect(evicted).toEqual(['a', 'b']);
    expect(budget.total).toBe(900);
    budget.update(c, 1001); // alone over the limit: it goes itself
    expect(evicted).toEqual(['a', 'b', 'c']);
    expect(budget.total).toBe(0);
  });

  it('a message that ends gives its room back, and its connection counts from its next message as the newest', () => {
    const evicted: string[] = [];
    const budget = new ReceiveBudget(1000);
    const [a, b] = [receiver('a', evicted), receiver('b', evicted)];
    budget.update(a, 600);
    budget.update(b, 300);
    budget.update(a, 0); // a's message is in
    budget.update(a, 500); // a starts another: newer than b's
    expect(evicted).toEqual([]);
    budget.update(b, 600);
    expect(evicted).toEqual(['b']);
    budget.drop(a); // closed
    expect(budget.total).toBe(0);
  });
});
