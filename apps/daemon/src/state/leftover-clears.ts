/**
 * leftover-clears.ts - the budget of what is cleared after someone has gone: a
 * client instance's kept replies (primary/replay-table.ts), a connection's
 * subscriptions and blocked calls (owner-index.ts, waiters.ts). Nobody is left
 * to charge for that work, and it grows with what the one who went had built
 * up: a connection closing with 100,000 unacknowledged replies held the
 * primary 20-120 ms in one turn, one with 10,000 each of subscriptions, blocked
 * gets and lock waits 23-45 ms, a stall for every other client. So it goes
 * LEFTOVER_SLICE_MS a turn, one budget over all of it (TurnBudget), however
 * many connections close at once; the rest waits for the turns after.
 */
import { TurnBudget } from './turn-budget.js';

/** Most of a turn spent on leftovers, over every kind of them. */
export const LEFTOVER_SLICE_MS = 2;

/**
 * Promise hops a batch's reactions take at most: a blocked get rejected is answered through its
 * queue's promise, the replay's and the reply's. Awaiting one hop timed only the first: the rest
 * ran after the slice was measured, and a dead app's 300,000 gets held the primary for turns the
 * budget never saw.
 */
const REACTION_HOPS = 6;

const time = new TurnBudget(LEFTOVER_SLICE_MS);

/** How a clear went over turns: the slices it took (one a turn), its time, and its longest slice. */
export interface Sliced {
  slices: number;
  ms: number;
  longestMs: number;
}

/** A batch (with its reactions) in progress: batches of different clears never overlap, or each would run before any was counted. */
let busy = false;
/** Clears waiting for their next batch's turn to come, in order. */
const queued: (() => void)[] = [];

/**
 * Runs `step` (a batch of a clear: a few hundred entries, well under a slice; true once nothing is
 * left) within this turn's leftover budget, and the rest in the turns after. The first batch runs
 * now, in the caller's turn, unless the budget is spent or another clear's batch is under way.
 * Each batch is timed with the promise reactions it set off (a blocked call rejected is answered in
 * a microtask), as fanout.ts times its pushes with their flushes, and alone: clears that ran side
 * by side (thirty connections closing with their blocked calls) each ran a batch, their reactions
 * interleaved, before the first was counted, and each counted the others' time.
 */
export async function overTurns(step: () => boolean): Promise<Sliced> {
  const out: Sliced = { slices: 1, ms: 0, longestMs: 0 };
  let slice = 0;
  for (;;) {
    if (busy) await new Promise<void>((resolve) => queued.push(resolve));
    else busy = true;
    let done: boolean;
    try {
      while (time.spent) {
        out.longestMs = Math.max(out.longestMs, slice);
        slice = 0;
        await time.nextTurn();
        out.slices++;
      }
      const t0 = performance.now();
      done = step();
      for (let hop = 0; hop < REACTION_HOPS; hop++) await Promise.resolve();
      const ms = performance.now() - t0;
      time.spend(ms);
      out.ms += ms;
      slice += ms;
    } finally {
      // Handed on to the next clear waiting, still busy; or free.
      const next = queued.shift();
      if (next !== undefined) next();
      else busy = false;
    }
    if (done) break;
  }
  out.longestMs = Math.max(out.longestMs, slice);
  return out;
}
