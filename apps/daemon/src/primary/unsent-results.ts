/**
 * Results not yet sent: a result leaves while its client reads (below its
 * send high-water mark), and waits here, in order, while it does not, so a
 * chunk whose results come in several parts (each within a frame) never
 * piles up past the connection's hard cap. They move on when the client has
 * drained (Scheduler.drained), or all at once when the daemon stops.
 */
import type { ChunkResult } from '@corepool/protocol';
import type { ClientQueue } from './client-queues.js';

export class UnsentResults {
  readonly #byClient = new Map<ClientQueue, ChunkResult[]>();
  /** Send whether the client reads or not (the daemon is stopping: connections close once running chunks finish). */
  #force = false;

  /** Sends a result now if the client reads and nothing of its waits, else keeps it; true if it waits. */
  send(cq: ClientQueue, m: ChunkResult): boolean {
    const waiting = this.#byClient.get(cq);
    if ((waiting === undefined && cq.client.canReceive()) || this.#force) {
      cq.client.send(m);
      return false;
    }
    if (waiting === undefined) this.#byClient.set(cq, [m]);
    else waiting.push(m);
    return true;
  }

  /** Sends what waits for `cq` while it reads. */
  drained(cq: ClientQueue): void {
    const waiting = this.#byClient.get(cq);
    if (waiting === undefined) return;
    let n = 0;
    while (n < waiting.length && (this.#force || cq.client.canReceive())) cq.client.send(waiting[n++]!);
    if (n === waiting.length) this.#byClient.delete(cq);
    else waiting.splice(0, n);
  }

  /** From now on results leave at once; what waits leaves now. */
  sendAll(): void {
    this.#force = true;
    for (const cq of [...this.#byClient.keys()]) this.drained(cq);
  }

  /** True if results of `cq` wait. */
  has(cq: ClientQueue): boolean {
    return this.#byClient.has(cq);
  }

  /** True if any result waits. */
  get any(): boolean {
    return this.#byClient.size > 0;
  }

  /** Drops what waits for one job of `cq` (cancelled or closed). */
  dropJob(cq: ClientQueue, id: number): void {
    const waiting = this.#byClient.get(cq);
    if (waiting === undefined) return;
    const keep = waiting.filter((m) => m.id !== id);
    if (keep.length === 0) this.#byClient.delete(cq);
    else this.#byClient.set(cq, keep);
  }

  /** Drops what waits for a client that left. */
  drop(cq: ClientQueue): void {
    this.#byClient.delete(cq);
  }
}
