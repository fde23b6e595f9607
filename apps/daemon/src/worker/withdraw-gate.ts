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
 * lock. The main thread, about to start chunk K, writes K in a ring of the keys it started last,
 * then takes K out of the table of withdrawn keys if it is there (and skips the chunk). The guard,
 * asked to withdraw K, puts K in a free entry of the table, then looks for K in the ring: absent,
 * the main thread will find K in the table when it gets there, and the answer is "withdrawn";
 * present, the guard takes K back out ("kept"), unless the main thread took it first (then it
 * skips K: "withdrawn"). Sequentially consistent atomics: each side writes, then reads what the
 * other wrote, so at least one of them sees the other, and whoever takes the table entry decides.
 *
 * The ring holds STARTED_RING keys. The primary asks only for a chunk it still holds in this
 * worker's lane, and until it has read the chunk's answer: a chunk that started is asked for, at
 * the latest, while its answer is on its way. The worker took from its queue after it only chunks
 * it ran, which are in the lane too until their answers (which come after this one) are read, a
 * lane holding --pipeline-depth (16 at most) chunks and an urgent one; and chunks it skipped, noted
 * here (WITHDRAW_SLOTS at once). So a chunk that started is still in the ring when it is asked for.
 * (Keys do not rise in the order a worker runs its chunks: a chunk's key is minted when its client
 * sends it, and an urgent chunk runs ahead of those waiting; a watermark of the highest key started,
 * tried first, answered "kept" for a chunk never started, which then waited behind an endless item.)
 *
 * A task that imports this module can write here and make its worker skip other apps' chunks:
 * isolation between apps is against accidents, not malice (docs/guarantees.md).
 */

/** Withdrawals noted at once. A worker held by an item that never ends never reaches them; past this, the guard answers "full". */
export const WITHDRAW_SLOTS = 16;

/** Keys of the chunks started last that the guard can see: several times what a lane holds and the skipped ones (see the header). */
export const STARTED_RING = 128;

/** Captured at load, before any task can replace them. */
const { load, store, compareExchange } = Atomics;
const SafeBigInt = BigInt;

/** [0..STARTED_RING): the keys of the chunks started last, a ring; then WITHDRAW_SLOTS entries: keys withdrawn and not yet reached (0: free). */
export const withdrawGate = new BigInt64Array(new SharedArrayBuffer(8 * (STARTED_RING + WITHDRAW_SLOTS)));

/** Chunks started so far (this thread alone writes the ring). */
let started = 0;

/** Chunk `key` is next to run: false if it was withdrawn (skip it: it runs elsewhere). */
export function mayStart(key: number): boolean {
  const k = SafeBigInt(key);
  store(withdrawGate, started++ % STARTED_RING, k);
  let withdrawn = false;
  for (let s = STARTED_RING; s < STARTED_RING + WITHDRAW_SLOTS; s++)
    if (load(withdrawGate, s) === k && compareExchange(withdrawGate, s, k, 0n) === k) withdrawn = true;
  return !withdrawn;
}

/**
 * The guard's half, run on the orphan guard's thread (orphan-guard.ts puts this function's source in
 * that thread's code, so it refers to nothing but its arguments): the answer (one of `ops`:
 * withdrawn, kept, full) to a withdrawal of chunk `key`, `ring` and `slots` being STARTED_RING and
 * WITHDRAW_SLOTS.
 */
export function withdrawAnswer(
  gate: BigInt64Array,
  key: number,
  ring: number,
  slots: number,
  ops: readonly [number, number, number],
): number {
  const k = BigInt(key);
  const started = (): boolean => {
    for (let i = 0; i < ring; i++) if (Atomics.load(gate, i) === k) return true;
    return false;
  };
  let s = ring;
  while (s < ring + slots && Atomics.compareExchange(gate, s, 0n, k) !== 0n) s++;
  if (s === ring + slots) return started() ? ops[1] : ops[2];
  if (!started()) return ops[0];
  return Atomics.compareExchange(gate, s, k, 0n) === k ? ops[1] : ops[0];
}
