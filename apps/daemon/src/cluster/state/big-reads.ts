/**
 * big-reads.ts - which values of a change-feed round too large to be
 * recorded inline are read, and in what groups. A round's reads go out
 * together (one round trip, not one per entry: one app writing big values
 * must not hold up every other app's pushes and wake-ups behind a read each),
 * but they are held until their entries are handed on, and values may be
 * megabytes: so they are read in groups whose recorded sizes add up to at
 * most a budget, one group after another. A read gets at most the size its
 * record gave (subscriptions.ts: nothing when the value or key grew since),
 * so what a group holds is within its recorded sizes too.
 */
import type { ChangeEntry } from './change-feed.js';

/** Bytes of big values one group of reads holds at most (unless one value alone is larger). */
export const READ_BUDGET = 16 * 1024 * 1024;

/**
 * The entries of a round to read, as groups of indices (in order, each group's
 * after the last of the one before): those `wants` says need a read, but not
 * one superseded in the round, which is neither read nor pushed (its
 * subscribers get the later change): a value's change followed by another of
 * that value (its bytes are pushed only if it is still that version, and it no
 * longer is), or a dict key's followed by another change of that key or the
 * whole dict's delete (the key as it is now is the later change's; read once
 * per record, a key written 256 times in a round would be read 256 times at
 * its latest size, whatever the records said).
 */
export function readPlan(entries: readonly ChangeEntry[], wants: (e: ChangeEntry) => boolean, budget = READ_BUDGET): number[][] {
  const values = new Set<string>();
  const dicts = new Set<string>();
  const dictKeys = new Set<string>();
  const costs = new Array<number | undefined>(entries.length);
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    let superseded = false;
    if (e.kind === 'v') {
      superseded = values.has(e.name);
      values.add(e.name);
    } else if (e.kind === 'd' && e.key === undefined) {
      dicts.add(e.name);
    } else if (e.kind === 'd') {
      const key = JSON.stringify([e.name, e.key]);
      superseded = dicts.has(e.name) || dictKeys.has(key);
      dictKeys.add(key);
    }
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
