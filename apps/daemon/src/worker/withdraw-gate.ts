/**
 * Withdrawal: the primary moves a chunk waiting in this worker's queue to a worker that went idle
 * (work stealing, or a reserve worker for a stuck app), but only once this worker has said it will
 * not run it. Before, the primary sent the copy at once and told this worker to skip its own; when
 * the chunk ahead ended just as the copy went out, this worker had started it already, and its
 * items ran twice: a task's `ctx.value(...).add(1)` counted 978 for 975 items (batches of five
 * 40-60 ms items, one item a chunk, 30 s on two workers).
 *
 * The main thread cannot answer while a task runs, so the orphan guard's thread answers
 * (orphan-guard.ts, GuardOp in guard-messages.ts), and the two agree through this memory with no
 * lock. The main thread, about to start chunk K, raises `started` to K, then takes K out of the
 * withdrawn slots if it is there (and skips the chunk). The guard, asked to withdraw K, puts K in
 * a free slot, then reads `started`: below K, the main thread will find K when it gets there, and
 * the answer is "withdrawn"; at K or above, the guard takes K back out ("kept"), unless the main
 * thread took it first (then it skips K: "withdrawn"). Sequentially consistent atomics: each side
 * writes, then reads what the other wrote, so at least one of them sees the other, and whoever
 * takes the slot decides. Keys rise in the order chunks are sent, and a chunk another one jumped
 * ahead of (an urgent chunk, run-queue.ts) is kept: wrongly kept is a chunk that waits where it
 * is, never one that runs twice.
 */

/** Withdrawals noted at once: a worker holds a few chunks (--pipeline-depth); past this, a chunk is kept. */
export const WITHDRAW_SLOTS = 8;

/** Captured at load, before any task can replace them. */
const { load, store, compareExchange } = Atomics;
const SafeBigInt = BigInt;

/** [0]: the highest chunk key started; [1..WITHDRAW_SLOTS]: keys withdrawn and not yet reached (0: free). */
export const withdrawGate = new BigInt64Array(new SharedArrayBuffer(8 * (1 + WITHDRAW_SLOTS)));

/** Chunk `key` is next to run: false if it was withdrawn (skip it: it runs elsewhere). */
export function mayStart(key: number): boolean {
  const k = SafeBigInt(key);
  if (k > load(withdrawGate, 0)) store(withdrawGate, 0, k);
  for (let s = 1; s <= WITHDRAW_SLOTS; s++) if (load(withdrawGate, s) === k && compareExchange(withdrawGate, s, k, 0n) === k) return false;
  return true;
}
