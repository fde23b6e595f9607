/**
 * CostlyScripts: costly requests within the budget, owners taking turns (none passed over, however
 * long its request), each owner's requests started in the order they came, a request of unknown
 * cost measured first, its owner's later ones behind it, and what goes with an owner that goes;
 * ValueSizes' estimates.
 */
import { expect, it } from 'vitest';
import { CancelledError } from '@corepool/protocol';
import { BUDGET_MS, CostlyScripts } from '../../src/cluster/state/costly-scripts.js';
import { ValueSizes } from '../../src/cluster/state/value-sizes.js';

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

/** A measure that answers `ms` when `answer` is called, and says whether it was asked. */
function measured(log: string[], name: string): { measure: () => Promise<number>; answer: (ms: number) => void; fail: (e: Error) => void } {
  let answer!: (ms: number) => void;
  let fail!: (e: Error) => void;
  const known = new Promise<number>((resolve, reject) => ((answer = resolve), (fail = reject)));
  return {
    measure: () => {
      log.push(`measure ${name}`);
      return known;
    },
    answer: (ms) => answer(ms),
    fail: (e) => fail(e),
  };
}

it('keeps costly requests within the budget, owners in turns, each owner in order', async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const a1 = request(log, 'a1');
  const a2 = request(log, 'a2');
  const aCheap = request(log, 'a-cheap');
  const b1 = request(log, 'b1');
  const cCheap = request(log, 'c-cheap');
  const heavy = BUDGET_MS; // one fills the budget
  const got = [
    c.enter('a', 'value.add', heavy, a1.run),
    c.enter('a', 'value.add', heavy, a2.run),
    c.enter('a', 'value.get', 0, aCheap.run), // behind a2: its owner's order
    c.enter('b', 'value.add', heavy, b1.run),
    c.enter('c', 'value.get', 0, cCheap.run), // cheap, of an owner with nothing waiting: at once
  ];
  expect(log).toEqual(['a1', 'c-cheap']);
  a1.finish();
  await turn();
  // a's turn came first, its cheap one sent right behind a2 (pipelined, in order)...
  expect(log).toEqual(['a1', 'c-cheap', 'a2', 'a-cheap']);
  a2.finish();
  await turn();
  expect(log).toEqual(['a1', 'c-cheap', 'a2', 'a-cheap', 'b1']); // ...then b's
  for (const r of [aCheap, b1, cCheap]) r.finish();
  expect(await Promise.all(got)).toEqual(['a1', 'a2', 'a-cheap', 'b1', 'c-cheap']);
});

it("drops a gone owner's waiting requests, never started", async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const a1 = request(log, 'a1');
  const a2 = request(log, 'a2');
  const first = c.enter('a', 'value.add', BUDGET_MS, a1.run);
  const second = c.enter('a', 'value.add', BUDGET_MS, a2.run);
  c.drop('a', new CancelledError('gone'));
  await expect(second).rejects.toMatchObject({ code: 'E_CANCELLED' });
  a1.finish();
  expect(await first).toBe('a1');
  expect(log).toEqual(['a1']);
});

it('passes over no owner: one whose request needs the whole budget goes once what is in flight ends, however steady the others', async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const b1 = request(log, 'b1');
  const aLong = request(log, 'a-long');
  const aRelease = request(log, 'a-release');
  const b2 = request(log, 'b2');
  const got = [
    c.enter('b', 'value.add', 8, b1.run),
    c.enter('a', 'value.add', 78, aLong.run), // over the budget: it waits for nothing to be in flight
    c.enter('a', 'lock.release', 0, aRelease.run), // its owner's order: behind it
    c.enter('b', 'value.add', 8, b2.run), // fits the budget, but a waits first: not let past it
  ];
  expect(log).toEqual(['b1']);
  b1.finish();
  await turn();
  expect(log).toEqual(['b1', 'a-long', 'a-release']);
  aLong.finish();
  await turn();
  expect(log).toEqual(['b1', 'a-long', 'a-release', 'b2']);
  for (const r of [aRelease, b2]) r.finish();
  expect(await Promise.all(got)).toEqual(['b1', 'a-long', 'a-release', 'b2']);
});

it("drops only the calls asked for (a task's gets as it ends), the rest of the line keeping its order", async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const b1 = request(log, 'b1');
  const a1 = request(log, 'a1');
  const aSet = request(log, 'a-set');
  const aGet = request(log, 'a-get');
  const other = c.enter('b', 'value.add', BUDGET_MS, b1.run);
  // All three wait: a1 for the budget, the others behind it in a's order.
  const first = c.enter('a', 'value.add', BUDGET_MS, a1.run);
  const set = c.enter('a', 'value.set', 0, aSet.run);
  const get = c.enter('a', 'queue.get', 0, aGet.run);
  c.drop('a', new CancelledError('task ended'), (op) => op === 'queue.get');
  await expect(get).rejects.toMatchObject({ code: 'E_CANCELLED' });
  b1.finish();
  await turn();
  expect(log).toEqual(['b1', 'a1', 'a-set']);
  a1.finish();
  aSet.finish();
  expect([await other, await first, await set]).toEqual(['b1', 'a1', 'a-set']);
});

it('estimates an add by the larger of the stored value and the delta, and knows nothing of a value it has not seen', () => {
  const sizes = new ValueSizes();
  // Not seen: its reply will tell, whatever the delta (a small delta to a large value unseen costs as much).
  expect(sizes.addMs('new', 9)).toBeUndefined();
  expect(sizes.addMs('new', 950_000)).toBeUndefined();
  sizes.seen('big', 950_000);
  expect(sizes.addMs('big', 9)).toBeGreaterThan(BUDGET_MS);
  sizes.seen('small', 9);
  expect(sizes.addMs('small', 950_000)).toBeGreaterThan(BUDGET_MS);
  expect(sizes.addMs('small', 9)).toBeLessThan(0.01);
});

it('starts nothing as the store closes: every waiting request fails', async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const x = request(log, 'x');
  const a = request(log, 'a');
  const b = request(log, 'b');
  const bCheap = request(log, 'b-cheap');
  const first = c.enter('x', 'value.add', BUDGET_MS, x.run);
  const waiting = [
    c.enter('a', 'value.add', BUDGET_MS, a.run),
    c.enter('b', 'value.add', 5, b.run),
    c.enter('b', 'queue.get', 0, bCheap.run),
  ];
  c.dropAll(new CancelledError('stopping'));
  for (const w of waiting) await expect(w).rejects.toMatchObject({ code: 'E_CANCELLED' });
  expect(log).toEqual(['x']);
  x.finish();
  expect(await first).toBe('x');
  await turn();
  expect(log).toEqual(['x']);
});

it("starts a line's cheap front at once, not after another owner's costly turn", async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const x = request(log, 'x');
  const aLong = request(log, 'a-long');
  const bAdd = request(log, 'b-add');
  const bSize = measured(log, 'b');
  const bRelease = request(log, 'b-release');
  const got = [
    c.enter('x', 'value.add', BUDGET_MS, x.run),
    c.enter('a', 'value.add', 78, aLong.run), // waits for nothing to be in flight
    c.enter('b', 'value.add', bSize.measure, bAdd.run), // measured, needing no turn
    c.enter('b', 'lock.release', 0, bRelease.run), // behind b's add
  ];
  expect(log).toEqual(['x', 'measure b']);
  bSize.answer(0.1);
  await turn();
  // b's add, cheap, and its release go as the measure answers, not once x and a-long are done.
  expect(log).toEqual(['x', 'measure b', 'b-add', 'b-release']);
  x.finish();
  await turn();
  expect(log).toEqual(['x', 'measure b', 'b-add', 'b-release', 'a-long']);
  for (const r of [aLong, bAdd, bRelease]) r.finish();
  expect(await Promise.all(got)).toEqual(['x', 'a-long', 'b-add', 'b-release']);
});

it("measures requests of unknown cost of many owners at once, each owner's later ones behind its own", async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const aAdd = request(log, 'a-add');
  const aGet = request(log, 'a-get');
  const bAdd = request(log, 'b-add');
  const aSize = measured(log, 'a');
  const bSize = measured(log, 'b');
  const got = [
    c.enter('a', 'value.add', aSize.measure, aAdd.run),
    c.enter('a', 'value.get', 0, aGet.run), // behind a's add, measured or not
    c.enter('b', 'value.add', bSize.measure, bAdd.run), // measured beside a's (as probes, one at a time on the daemon, it waited for a's answer)
  ];
  expect(log).toEqual(['measure a', 'measure b']);
  bSize.answer(0.1);
  await turn();
  expect(log).toEqual(['measure a', 'measure b', 'b-add']);
  aSize.answer(0.1);
  await turn();
  expect(log).toEqual(['measure a', 'measure b', 'b-add', 'a-add', 'a-get']);
  for (const r of [aAdd, aGet, bAdd]) r.finish();
  expect(await Promise.all(got)).toEqual(['a-add', 'a-get', 'b-add']);
});

it("puts a request measured costly in its turn within the budget, its owner's later ones behind it", async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const x = request(log, 'x');
  const aAdd = request(log, 'a-add');
  const aGet = request(log, 'a-get');
  const aSize = measured(log, 'a');
  const got = [
    c.enter('x', 'value.add', BUDGET_MS, x.run), // fills the budget
    c.enter('a', 'value.add', aSize.measure, aAdd.run),
    c.enter('a', 'value.get', 0, aGet.run),
  ];
  aSize.answer(BUDGET_MS);
  await turn();
  expect(log).toEqual(['x', 'measure a']); // no room: a's add waits, and its get behind it
  x.finish();
  await turn();
  expect(log).toEqual(['x', 'measure a', 'a-add', 'a-get']);
  for (const r of [aAdd, aGet]) r.finish();
  expect(await Promise.all(got)).toEqual(['x', 'a-add', 'a-get']);
});

it('never sends a request whose owner went while it was measured; a failed measure fails it alone', async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const aAdd = request(log, 'a-add');
  const aSize = measured(log, 'a');
  const gone = c.enter('a', 'value.add', aSize.measure, aAdd.run);
  c.drop('a', new CancelledError('gone'));
  aSize.answer(0.1);
  await expect(gone).rejects.toMatchObject({ code: 'E_CANCELLED' });
  const bAdd = request(log, 'b-add');
  const bGet = request(log, 'b-get');
  const bSize = measured(log, 'b');
  const failed = c.enter('b', 'value.add', bSize.measure, bAdd.run);
  const next = c.enter('b', 'value.get', 0, bGet.run);
  bSize.fail(new Error('redis gone'));
  await expect(failed).rejects.toThrow('redis gone');
  await turn();
  bGet.finish();
  expect(await next).toBe('b-get');
  expect(log).toEqual(['measure a', 'measure b', 'b-get']);
});

it("measures an owner's adds one after the other, each started before the next is measured", async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const a1 = request(log, 'a1');
  const a2 = request(log, 'a2');
  const aGet = request(log, 'a-get');
  const s1 = measured(log, 'a1');
  const s2 = measured(log, 'a2');
  const got = [
    c.enter('a', 'value.add', s1.measure, a1.run),
    c.enter('a', 'value.add', s2.measure, a2.run),
    c.enter('a', 'value.get', 0, aGet.run),
  ];
  expect(log).toEqual(['measure a1']);
  s2.answer(0.1); // answered first, it is still asked for only once a1 has gone
  s1.answer(0.1);
  await turn();
  expect(log).toEqual(['measure a1', 'a1', 'measure a2', 'a2', 'a-get']);
  for (const r of [a1, a2, aGet]) r.finish();
  expect(await Promise.all(got)).toEqual(['a1', 'a2', 'a-get']);
});

it('fails a request being measured at once when its owner goes or the store closes, whatever its measure does after', async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const aAdd = request(log, 'a-add');
  const aSize = measured(log, 'a');
  const gone = c.enter('a', 'value.add', aSize.measure, aAdd.run);
  c.drop('a', new CancelledError('gone'));
  await expect(gone).rejects.toMatchObject({ code: 'E_CANCELLED' }); // before its measure answers
  aSize.fail(new Error('redis gone'));
  const bAdd = request(log, 'b-add');
  const bSize = measured(log, 'b');
  const closing = c.enter('b', 'value.add', bSize.measure, bAdd.run);
  c.dropAll(new CancelledError('stopping'));
  await expect(closing).rejects.toThrow('stopping');
  bSize.answer(0.1);
  await turn();
  expect(log).toEqual(['measure a', 'measure b']);
});

it('keeps a request being measured when a drop picks other ops of its owner, which go from behind it', async () => {
  const c = new CostlyScripts();
  const log: string[] = [];
  const aAdd = request(log, 'a-add');
  const aGet = request(log, 'a-get');
  const aSet = request(log, 'a-set');
  const aSize = measured(log, 'a');
  const add = c.enter('a', 'value.add', aSize.measure, aAdd.run);
  const get = c.enter('a', 'queue.get', 0, aGet.run);
  const set = c.enter('a', 'value.set', 0, aSet.run);
  c.drop('a', new CancelledError('the task ended'), (op) => op === 'queue.get');
  await expect(get).rejects.toMatchObject({ code: 'E_CANCELLED' });
  aSize.answer(0.1);
  await turn();
  expect(log).toEqual(['measure a', 'a-add', 'a-set']);
  aAdd.finish();
  aSet.finish();
  expect(await Promise.all([add, set])).toEqual(['a-add', 'a-set']);
});
