/**
 * An instance gone with many replies kept is cleared over turns (replay-table.ts, state/leftover-clears.ts),
 * not in the turn it goes, and a new instance of its name meanwhile is kept apart from it: a resend of
 * the old instance's is E_REPLY_DROPPED (never run again), the new one's replies stay in the store
 * though the old clear deletes the same keys, and what it all holds is counted until it is gone.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { StateRequest } from '@corepool/protocol';
import { MAX_CLEARING, ReplayTable } from '../src/primary/replay-table.js';
import type { InstanceReplays, ReplayHost } from '../src/primary/replay.js';
import type { Sliced } from '../src/state/leftover-clears.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const ADD: StateRequest = { op: 'value.add', name: 'n' } as StateRequest;

/** A table over a store of replies kept by "instance:rid", with what it holds and each clear it reports. */
function table() {
  const store = new Map<string, unknown>();
  let held = 0;
  const cleared: { instances: number; replies: number; sliced: Sliced }[] = [];
  const t = new ReplayTable(
    (instance, rid) => void store.delete(`${instance}:${rid}`),
    undefined,
    { items: () => {}, replies: (b) => void (held += b) },
    undefined,
    { bytes: Infinity, cleared: (instances, replies, sliced) => cleared.push({ instances, replies, sliced }) },
  );
  let runs = 0;
  const host: ReplayHost = {
    open: true,
    run: (_req, [instance, rid]) => {
      runs++;
      store.set(`${instance}:${rid}`, rid);
      return Promise.resolve(rid);
    },
    handBack: () => {},
  };
  /** Requests `from`..`to` of `r`, each kept as its reply. */
  const send = async (r: InstanceReplays, from: number, to: number): Promise<void> => {
    const all: Promise<unknown>[] = [];
    for (let rid = from; rid <= to; rid++) {
      const o = r.outcome(rid, ADD, host)!;
      all.push(o.then((v) => r.settled(rid, o, v)));
    }
    await Promise.all(all);
  };
  return { t, store, host, cleared, send, held: () => held, runs: () => runs };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('an instance gone with many replies', () => {
  it('is cleared a slice a turn, counted until its clear ends', async () => {
    const { t, store, cleared, send, held } = table();
    const r = t.attach('big');
    await send(r, 1, 100_000);
    const before = held();
    t.end(r);
    // Only the first slice in the turn it went: its instance's cost and most replies still counted.
    expect(store.size).toBeGreaterThan(50_000);
    expect(t.clearing).toBeGreaterThan(50_000);
    expect(held()).toBeGreaterThan(before / 2);
    let turns = 0;
    while (store.size > 0) {
      await turn();
      turns++;
    }
    await turn();
    expect(turns).toBeGreaterThan(1);
    expect(t.clearing).toBe(0);
    expect(held()).toBe(0);
    expect(cleared).toHaveLength(1);
    expect(cleared[0]).toMatchObject({ instances: 1, replies: 100_000 });
    expect(cleared[0]!.sliced.slices).toBeGreaterThan(1);
  });

  it('a few are cleared at once, as before', () => {
    const { t, store, cleared, held } = table();
    const r = t.attach('small');
    for (let rid = 1; rid <= 100; rid++) r.restore(rid, rid);
    for (let rid = 1; rid <= 100; rid++) store.set(`small:${rid}`, rid);
    t.end(r);
    expect(store.size).toBe(0);
    expect(held()).toBe(0);
    expect(t.clearing).toBe(0);
    expect(cleared).toHaveLength(0);
  });

  it('closed for good, then back as a new instance of its name while cleared: old resends refused, its own kept', async () => {
    const { t, store, send, runs } = table();
    const r = t.attach('same');
    await send(r, 1, 20_000);
    t.end(r);
    const again = t.attach('same');
    expect(store.size).toBeGreaterThan(0);
    // An old request resent: E_REPLY_DROPPED, not run a second time.
    const ran = runs();
    expect(() => again.outcome(5, ADD, { open: true, run: () => Promise.reject(new Error('ran twice')), handBack: () => {} })).toThrow(
      expect.objectContaining({ code: 'E_REPLY_DROPPED' }),
    );
    await send(again, 20_001, 20_010);
    expect(runs()).toBe(ran + 10);
    while (t.clearing > 0) await turn();
    expect([...store.keys()].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `same:${20_001 + i}`).sort());
    expect(again.size).toBe(10);
  });

  it("cut, its window over, then a new instance of its name reusing its ids while cleared: the clear never deletes the new one's", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { t, store, send, held } = table();
    const r = t.attach('reused');
    await send(r, 1, 20_000);
    t.detach(r);
    vi.advanceTimersByTime(121_000);
    expect(t.clearing).toBeGreaterThan(0);
    const again = t.attach('reused');
    // Ids the old instance still holds, and one it cleared already.
    await send(again, 19_990, 20_000);
    await send(again, 1, 1);
    while (t.clearing > 0) await turn();
    expect([...store.keys()].sort()).toEqual(['reused:1', ...Array.from({ length: 11 }, (_, i) => `reused:${19_990 + i}`)].sort());
    expect(again.size).toBe(12);
    t.end(again);
    expect(store.size).toBe(0);
    expect(held()).toBe(0);
  });

  it('a backlog past MAX_CLEARING has its oldest clears finished at once: bounded however fast instances go', async () => {
    const { t, store, send } = table();
    const per = 100_000;
    const n = Math.ceil(MAX_CLEARING / per) + 2;
    for (let i = 0; i < n; i++) {
      const r = t.attach(`churn-${i}`);
      await send(r, 1, per);
      t.end(r);
      expect(t.clearing).toBeLessThanOrEqual(MAX_CLEARING + per);
    }
    while (store.size > 0) await turn();
    expect(t.clearing).toBe(0);
  }, 60_000);
});
