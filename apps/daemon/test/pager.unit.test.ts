/**
 * Paging a live listing by offset cursors (state-listing.ts): every entry once,
 * in order; paging on costs a page, not a walk from the start; a far cursor is
 * walked to in slices that let the event loop run.
 */
import { describe, expect, it, vi } from 'vitest';
import { Pager, WALK_TTL_MS } from '../src/state/state-listing.js';
import type { StateEntry } from '../src/state/state-store.js';

/** A listing over `names` (live: names pushed later are listed too) that counts the entries it is asked for. */
function listing(names: string[]): { pager: Pager; steps: () => number } {
  let steps = 0;
  const pager = new Pager(function* () {
    for (let i = 0; i < names.length; i++) {
      steps++;
      const name = names[i]!;
      yield (): StateEntry => ({ kind: 'queue', name, size: 1 });
    }
  });
  return { pager, steps: () => steps };
}

async function pageAll(pager: Pager, limit: number): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await pager.page(limit, cursor);
    seen.push(...page.entries.map((e) => e.name));
    cursor = page.next;
  } while (cursor !== undefined);
  return seen;
}

describe('Pager', () => {
  it('pages through every entry once, in order; paging on walks each entry once, not from the start per page', async () => {
    const names = Array.from({ length: 20_000 }, (_, i) => `n${i}`);
    const { pager, steps } = listing(names);
    expect(await pageAll(pager, 200)).toEqual(names);
    // Re-walked from the start for each of the 100 pages, it took ~1,000,000 steps.
    expect(steps()).toBeLessThanOrEqual(names.length + 1);
  });

  it('a cursor it did not hand out is walked to: the same entries as paging on', async () => {
    const names = Array.from({ length: 1000 }, (_, i) => `n${i}`);
    const { pager } = listing(names);
    const page = await pager.page(10, '500');
    expect(page.entries.map((e) => e.name)).toEqual(names.slice(500, 510));
    expect(page.next).toBe('510');
    expect(await pager.page(10, '995')).toEqual({ entries: names.slice(995).map((name) => ({ kind: 'queue', name, size: 1 })) });
    expect(await pager.page(10, '999999999')).toEqual({ entries: [] });
    // Past any listing, the end; not a cursor at all, refused (both used to start over: a pager fed one looped).
    expect(await pager.page(10, '9007199254740993')).toEqual({ entries: [] });
    await expect(pager.page(10, 'not-a-cursor')).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
  });

  it('walking to a far cursor lets the event loop run between slices', async () => {
    const names = Array.from({ length: 200_000 }, (_, i) => `n${i}`);
    const { pager, steps } = listing(names);
    let seenAt = -1;
    setImmediate(() => (seenAt = steps()));
    const page = await pager.page(5, '199990');
    expect(page.entries.map((e) => e.name)).toEqual(names.slice(199_990, 199_995));
    // The immediate ran while the walk was under way, not after it.
    expect(seenAt).toBeGreaterThan(0);
    expect(seenAt).toBeLessThan(199_990);
  });

  it('names added while paging are listed at the end; two pagings from one cursor each get the page', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `n${i}`);
    const { pager } = listing(names);
    const first = await pager.page(10);
    names.push('late');
    const a = await pager.page(10, first.next);
    const b = await pager.page(10, first.next);
    expect(a.entries.map((e) => e.name)).toEqual(names.slice(10, 20));
    expect(b.entries).toEqual(a.entries);
    const rest = await pager.page(100, a.next);
    expect(rest.entries.map((e) => e.name)).toEqual([...names.slice(20, 30), 'late']);
  });

  it('many far-cursor pages at once share one budget a turn: the event loop runs every few thousand entries, not every few thousand per page', async () => {
    const names = Array.from({ length: 200_000 }, (_, i) => `n${i}`);
    const { pager, steps } = listing(names);
    const marks: number[] = [];
    let marking = true;
    const mark = (): void => {
      marks.push(steps());
      if (marking) setImmediate(mark);
    };
    setImmediate(mark);
    const pages = await Promise.all(Array.from({ length: 40 }, () => pager.page(5, '100000')));
    marking = false;
    for (const page of pages) expect(page.entries.map((e) => e.name)).toEqual(names.slice(100_000, 100_005));
    const gaps = marks.slice(1).map((m, i) => m - marks[i]!);
    // 40 walks of 100,000 entries: ~4,000,000 steps in all, in turns of ~2,048 (each walk may step once past the budget).
    expect(Math.max(...gaps)).toBeLessThan(2048 + 2 * 40 + 6 * 40);
  });

  it('lists what a name holds when the page is made: one deleted meanwhile is left out', async () => {
    const held = new Map(Array.from({ length: 30 }, (_, i) => [`n${i}`, i]));
    const pager = new Pager(function* () {
      for (const k of held.keys())
        yield (): StateEntry | undefined => (held.has(k) ? { kind: 'queue', name: k, size: held.get(k)! } : undefined);
    });
    const first = await pager.page(10);
    held.delete('n10'); // the kept walk's next entry
    held.delete('n11');
    const second = await pager.page(10, first.next);
    // As a fresh walk to the cursor would give: the 20th name on is n22, now that two are gone.
    expect(second.entries.map((e) => e.name)).toEqual(['n12', 'n13', 'n14', 'n15', 'n16', 'n17', 'n18', 'n19', 'n20', 'n21']);
    expect((await pager.page(1, second.next)).entries[0]!.name).toBe('n22');
    expect(
      (
        await new Pager(function* () {
          for (const k of held.keys()) yield (): StateEntry => ({ kind: 'queue', name: k, size: 1 });
        }).page(1, second.next)
      ).entries[0]!.name,
    ).toBe('n22');
  });

  it('lets a kept walk go after WALK_TTL_MS: paging on then walks from the start', async () => {
    vi.useFakeTimers();
    try {
      const names = Array.from({ length: 1000 }, (_, i) => `n${i}`);
      const { pager, steps } = listing(names);
      const first = await pager.page(100);
      const before = steps();
      await pager.page(100, first.next); // kept: a page's worth of steps
      expect(steps() - before).toBeLessThanOrEqual(101);
      const third = await pager.page(100, '200');
      vi.advanceTimersByTime(WALK_TTL_MS + 1);
      const at = steps();
      const fourth = await pager.page(100, third.next);
      expect(steps() - at).toBeGreaterThan(300);
      expect(fourth.entries[0]!.name).toBe('n300');
    } finally {
      vi.useRealTimers();
    }
  });
});
