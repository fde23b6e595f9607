/**
 * CostlyScripts: costly requests within the budget, owners taking turns, each owner's requests
 * started in the order they came, and a request of unknown cost alone for its owner.
 */
import { expect, it } from 'vitest';
import { CancelledError } from '@corepool/protocol';
import { BUDGET_MS, CostlyScripts } from '../../src/cluster/state/costly-scripts.js';

/** A request that records when it starts and ends when `finish` is called. */
function request(log: string[], name: string): { run: () => Promise<string>; finish: () => void } {
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  return {
    run: async () => {
      log.push(name);
      await done;
      return name;
    },
    finish: () => finish(),
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

it('keeps costly requests within the budget, owners in turns, each owner in order', async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const a1 = request(log, 'a1');
  const a2 = request(log, 'a2');
  const aCheap = request(log, 'a-cheap');
  const b1 = request(log, 'b1');
  const bCheap = request(log, 'b-cheap');
  const heavy = BUDGET_MS; // one fills the budget
  const got = [
    c.enter('a', heavy, a1.run),
    c.enter('a', heavy, a2.run),
    c.enter('a', 0, aCheap.run), // behind a2: its owner's order
    c.enter('b', heavy, b1.run),
    c.enter('c', 0, bCheap.run), // cheap, of an owner with nothing waiting: at once
  ];
  expect(log).toEqual(['a1', 'b-cheap']);
  a1.finish();
  await turn();
  // a's turn came first, its cheap one sent right behind a2 (pipelined, in order)...
  expect(log).toEqual(['a1', 'b-cheap', 'a2', 'a-cheap']);
  a2.finish();
  await turn();
  expect(log).toEqual(['a1', 'b-cheap', 'a2', 'a-cheap', 'b1']); // ...then b's
  for (const r of [aCheap, b1, bCheap]) r.finish();
  expect(await Promise.all(got)).toEqual(['a1', 'a2', 'a-cheap', 'b1', 'b-cheap']);
});

it("drops a gone owner's waiting requests, never started", async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const a1 = request(log, 'a1');
  const a2 = request(log, 'a2');
  const first = c.enter('a', BUDGET_MS, a1.run);
  const second = c.enter('a', BUDGET_MS, a2.run);
  c.drop('a', new CancelledError('gone'));
  await expect(second).rejects.toMatchObject({ code: 'E_CANCELLED' });
  a1.finish();
  expect(await first).toBe('a1');
  expect(log).toEqual(['a1']);
});

it('lets a request of unknown cost go alone for its owner, its later ones waiting for its answer', async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const probe = request(log, 'a-unknown');
  const aCheap = request(log, 'a-cheap');
  const bCostly = request(log, 'b-costly');
  const got = [c.enter('a', undefined, probe.run), c.enter('a', 0, aCheap.run), c.enter('b', BUDGET_MS, bCostly.run)];
  expect(log).toEqual(['a-unknown', 'b-costly']); // outside the budget, but alone for a
  probe.finish();
  await turn();
  expect(log).toEqual(['a-unknown', 'b-costly', 'a-cheap']);
  aCheap.finish();
  bCostly.finish();
  expect(await Promise.all(got)).toEqual(['a-unknown', 'a-cheap', 'b-costly']);
});
