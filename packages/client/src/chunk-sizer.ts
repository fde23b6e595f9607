/**
 * Automatic chunk sizing: each chunk aims at CHUNK_TARGET_MS of work (longer
 * while no other client waits: what the daemon's welcome says, or
 * SOLO_CHUNK_TARGET_MS), from the per-item cost
 * workers report as the batch runs. Until the first report, items
 * travel one per chunk, so a batch of heavy items never starts with a long chunk;
 * tiny items reach large chunks after one round trip.
 */
import { CHUNK_TARGET_MS, CUT_MAX_PAYLOAD_BYTES, MAX_CHUNK_ITEMS, SOLO_CHUNK_TARGET_MS } from '@corepool/protocol/internal';

/**
 * Least work a chunk is cut to at the batch's tail. Cut by remaining / (2 x workers) alone, a
 * million trivial items (x * 2) ended in ~38 shrinking chunks down to one item each, every one a
 * round trip through the primary for microseconds of work: 8% of the map's wall time (1M
 * items, 2 workers, 4 interleaved pairs: 173-209 -> 153-166 ms). A worker left idle at the end
 * waits at most this long for the other's last chunk.
 */
const TAIL_FLOOR_MS = 1;

/** Picks the size of the next chunk of a batch. */
export class ChunkSizer {
  readonly #fixed: number | undefined;
  #perItemMs = -1;
  #maxItems = MAX_CHUNK_ITEMS;
  #targetMs = CHUNK_TARGET_MS;
  readonly #soloMs: number;
  /** Encoded bytes per item, from the chunks sent (0 until one is). */
  #bytesPerItem = 0;

  constructor(fixed: number | undefined, soloMs = SOLO_CHUNK_TARGET_MS) {
    this.#fixed = fixed;
    this.#soloMs = soloMs;
  }

  /**
   * Items for the next chunk. When the number of items left is known, chunks
   * shrink towards the end of the batch (guided scheduling) so that the
   * workers finish together instead of one idling while the other runs a full chunk,
   * but not below TAIL_FLOOR_MS of work.
   */
  next(remaining?: number, workers = 1): number {
    if (this.#fixed !== undefined) return this.#fixed;
    if (this.#perItemMs < 0) return 1;
    let n = this.#perItemMs === 0 ? this.#maxItems : Math.floor(this.#targetMs / this.#perItemMs);
    // Past SOLO_CHUNK_TARGET_MS only while the daemon can still cut the chunk short for a newcomer (its payload small enough).
    if (this.#targetMs > SOLO_CHUNK_TARGET_MS && this.#bytesPerItem > 0 && n * this.#bytesPerItem > CUT_MAX_PAYLOAD_BYTES) {
      const cuttable = Math.floor(CUT_MAX_PAYLOAD_BYTES / this.#bytesPerItem);
      const solo = this.#perItemMs === 0 ? this.#maxItems : Math.floor(SOLO_CHUNK_TARGET_MS / this.#perItemMs);
      n = Math.min(n, Math.max(cuttable, solo));
    }
    if (remaining !== undefined) {
      const floor = this.#perItemMs > 0 ? Math.ceil(TAIL_FLOOR_MS / this.#perItemMs) : this.#maxItems;
      n = Math.min(n, Math.max(Math.ceil(remaining / (2 * workers)), floor));
    }
    return Math.max(1, Math.min(this.#maxItems, n));
  }

  /** A worker ran `count` items in `ms`, with `load` clients competing for the pool. */
  observe(count: number, ms: number, load = 2): void {
    this.#targetMs = load > 1 ? CHUNK_TARGET_MS : this.#soloMs;
    if (count <= 0 || !(ms >= 0)) return;
    const sample = ms / count;
    // Weighted by items, so one slow first call (compile, JIT) does not dominate.
    this.#perItemMs = this.#perItemMs < 0 ? sample : (this.#perItemMs * 3 + sample) / 4;
  }

  /** A chunk of `count` items was encoded in `bytes`. */
  sent(count: number, bytes: number): void {
    if (count > 0) this.#bytesPerItem = bytes / count;
  }

  /** An encoded chunk came out too large: cap items so the next ones fit `maxBytes`. */
  fitBytes(count: number, bytes: number, maxBytes: number): void {
    if (bytes <= maxBytes) return;
    this.#maxItems = Math.max(1, Math.floor((count * maxBytes) / bytes));
  }
}
