/**
 * A chunk's cancellation: a flag the runner checks between items, and the
 * AbortSignal a task sees as `ctx.signal`, made only when a task asks for it
 * (an AbortController costs several microseconds, a tenth of a trivial
 * task's whole round trip).
 */
export class ChunkAbort {
  #aborted = false;
  #controller: AbortController | undefined;

  /** True once the primary aborted the chunk. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** The signal for tasks; already aborted if the chunk is. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#controller?.abort();
  }
}
