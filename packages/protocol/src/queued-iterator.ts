/**
 * A queue that one consumer drains with `for await`: producers push values
 * from callbacks (results, pushes) and end it, with an error or not; the
 * consumer takes what is queued and waits only while nothing is. Values
 * queued before the end are still delivered, then the loop ends (or throws
 * the error). Like nats.js's QueuedIterator, it is kept once for every
 * callback-to-iterator bridge (the SDK's imap, Value.watch).
 */

export interface QueuedIteratorOptions {
  /** Keep only the newest value: a slow consumer skips to it instead of working through a backlog. */
  latestOnly?: boolean;
}

/** A single-consumer async queue. */
export class QueuedIterator<T> implements AsyncIterableIterator<T> {
  readonly #latestOnly: boolean;
  #queue: T[] = [];
  /** Index of the next value to take (taking from the front without shifting the array each time). */
  #head = 0;
  #ended: { err: unknown } | undefined;
  #wake: (() => void) | undefined;
  /** Set when the consumer leaves the loop: later values are dropped. */
  #closed = false;

  constructor(options?: QueuedIteratorOptions) {
    this.#latestOnly = options?.latestOnly === true;
  }

  /** Values queued and not yet taken. */
  get length(): number {
    return this.#queue.length - this.#head;
  }

  /** True once the producer called `end` (values may still be queued). */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** Queues a value (nothing once ended). */
  push(value: T): void {
    if (this.#ended !== undefined || this.#closed) return;
    if (this.#latestOnly) {
      this.#queue = [value];
      this.#head = 0;
    } else {
      this.#queue.push(value);
    }
    this.#notify();
  }

  /**
   * No value follows: the consumer gets the queued ones, then the end, or `err` thrown if given;
   * with `drop`, the queued ones are dropped and the end comes next (a cancelled imap).
   */
  end(err?: unknown, drop = false): void {
    if (this.#ended !== undefined) return;
    this.#ended = { err };
    if (drop) {
      this.#queue = [];
      this.#head = 0;
    }
    this.#notify();
  }

  async next(): Promise<IteratorResult<T, undefined>> {
    for (;;) {
      if (this.#head < this.#queue.length) return { done: false, value: this.#take() };
      const ended = this.#ended;
      if (ended !== undefined) {
        if (ended.err !== undefined) throw ended.err;
        return { done: true, value: undefined };
      }
      if (this.#closed) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** The consumer left the loop: nothing more is queued (`ended` still tells whether the producer had ended). */
  async return(): Promise<IteratorResult<T, undefined>> {
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #take(): T {
    const value = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as T;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      // Drop the taken front once it is most of the array.
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return value;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
