/**
 * big-reads.ts - which values of a change-feed round too large to be
 * recorded inline are read, and in what groups. A round's reads go out
 * together (one round trip, not one per entry: one app writing big values
 * must not hold up every other app's pushes and wake-ups behind a read each),
 * but they are held until their entries are handed on, and values may be
 * megabytes: so they are read in groups whose recorded sizes add up to at
 * most a budget, one group after another.
 */
import type { ChangeEntry } from './change-feed.js';

/** Bytes of big values one group of reads holds at most (unless one value alone is larger). */
export const READ_BUDGET = 16 * 1024 * 1024;

/**
 * The entries of a round to read, as groups of indices (in order, each group's
 * after the last of the one before): those `wants` says need a read, but not a
 * value's change followed in the round by another of that value (its bytes are
 * pushed only if it is still that version, and it no longer is).
 */
export function readPlan(entries: readonly ChangeEntry[], wants: (e: ChangeEntry) => boolean, budget = READ_BUDGET): number[][] {
  const later = new Set<string>();
  const costs = new Array<number | undefined>(entries.length);
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    const superseded = e.kind === 'v' && later.has(e.name);
    if (e.kind === 'v') later.add(e.name);
    // A size not recorded (an older daemon's record) might be anything: read alone, as that daemon did.
    costs[i] = superseded || !wants(e) ? undefined : (e.bigBytes ?? budget);
  }
  return groupReads(costs, budget);
}

/**
 * Indices of the entries with a cost (undefined: none to read) in groups of
 * consecutive reads whose costs add up to at most `budget`; a read over the
 * budget by itself is a group of its own.
 */
export function groupReads(costs: readonly (number | undefined)[], budget: number): number[][] {
  const groups: number[][] = [];
  let group: number[] = [];
  let used = 0;
  costs.forEach((cost, i) => {
    if (cost === undefined) return;
    if (group.length > 0 && used + cost > budget) {
      groups.push(group);
      group = [];
      used = 0;
    }
    group.push(i);
    used += cost;
  });
  if (group.length > 0) groups.push(group);
  return groups;
}
