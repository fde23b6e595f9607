/**
 * Automatic chunk sizing: each chunk aims at CHUNK_TARGET_MS of work, from the
 * per-item cost workers report as the batch runs. Until the first report, items
 * travel one per chunk, so a batch of heavy items never starts with a long chunk;
 * tiny items reach large chunks after one round trip.
 */
import { CHUNK_TARGET_MS, MAX_CHUNK_ITEMS } from '@corepool/protocol';

/** Picks the size of the next chunk of a batch. */
export class ChunkSizer {
  readonly #fixed: number | undefined;
  #perItemMs = -1;
  #maxItems = MAX_CHUNK_ITEMS;

  constructor(fixed: number | undefined) {
    this.#fixed = fixed;
  }

  /** Items for the next chunk. */
  next(): number {
    if (this.#fixed !== undefined) return this.#fixed;
    if (this.#perItemMs < 0) return 1;
    const n = this.#perItemMs === 0 ? this.#maxItems : Math.floor(CHUNK_TARGET_MS / this.#perItemMs);
    return Math.max(1, Math.min(this.#maxItems, n));
  }

  /** A worker ran `count` items in `ms`. */
  observe(count: number, ms: number): void {
    if (count <= 0 || !(ms >= 0)) return;
    const sample = ms / count;
    // Weighted by items, so one slow first call (compile, JIT) does not dominate.
    this.#perItemMs = this.#perItemMs < 0 ? sample : (this.#perItemMs * 3 + sample) / 4;
  }

  /** An encoded chunk came out too large: cap items so the next ones fit `maxBytes`. */
  fitBytes(count: number, bytes: number, maxBytes: number): void {
    if (bytes <= maxBytes) return;
    this.#maxItems = Math.max(1, Math.floor((count * maxBytes) / bytes));
  }
}
