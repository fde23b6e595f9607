/**
 * Results on their way to clients: counted (items delivered), and sent while
 * the client reads (below its send high-water mark). Those it cannot take yet
 * wait here unsent, in order, so a chunk whose results come in several parts
 * (each within a frame) never piles up past the connection's hard cap. They
 * move on when the client has drained (Scheduler.drained), or all at once
 * when the daemon stops. A batch's failure takes the same road, so it never
 * overtakes that client's earlier results, and none of the batch's own
 * results follow it.
 *
 * What waits here for a client is told to its connection (SchedulerClient.resultsWaiting), whose send
 * side counts it with its socket's bytes against the daemon's send budget: a client that took
 * a frame a minute kept the results of every chunk its workers had begun, gigabytes with large
 * results, never stale enough for its own soft cap and never in the budget's count.
 */
import { encodeCheckedData, own, type BatchError, type ChunkResult, type WireError } from '@corepool/protocol/internal';
import type { ClientQueue, ClientQueues } from './client-queues.js';
import type { Job } from './job.js';
import type { SchedulerObserver } from './scheduler-observer.js';

const UNDEFINED_RESULT = own(encodeCheckedData([undefined]));

/** Results of items [start, start + count) of a job, as a worker sent them. */
export interface Outcome {
  payload: Uint8Array;
  errors: ChunkResult['errors'];
  ms: number;
}

/** The bytes of a waiting message that its payload holds. */
function bytesOf(m: ChunkResult | BatchError): number {
  return m.type === 'chunk.result' ? m.payload.length : 0;
}

export class ResultSender {
  readonly #queues: ClientQueues;
  readonly #unsent = new Map<ClientQueue, (ChunkResult | BatchError)[]>();
  /** The payload bytes of what waits in #unsent, per client (told to it: SchedulerClient.resultsWaiting). */
  readonly #unsentBytes = new Map<ClientQueue, number>();
  /** Send whether the client reads or not (the daemon is stopping: connections close once running chunks finish). */
  #force = false;
  /** Items whose result (or error) was delivered since start. */
  itemsDone = 0;
  /**
   * The pool's workers as counted now, told with every result where the pool can grow
   * after a client connected (cluster mode: daemons join), so the client's in-flight
   * window follows it. Unset: not told (the welcome's count holds).
   */
  workers: (() => number) | undefined;
  /** Told of every outcome delivered (telemetry.ts). */
  observer: SchedulerObserver | undefined;

  constructor(queues: ClientQueues) {
    this.#queues = queues;
  }

  /** Items [start, start + count) of a live job are done. */
  results(job: Job, start: number, count: number, o: Outcome): void {
    this.itemsDone += count;
    this.observer?.items(job.client.client, count, o.errors);
    this.#send(job.client, {
      type: 'chunk.result',
      id: job.id,
      start,
      count,
      errors: o.errors,
      ms: o.ms,
      load: this.#queues.load(job.client),
      ...(this.workers === undefined ? {} : { workers: this.workers() }),
      payload: o.payload, // last: its bytes go to the socket as they are (split-message.ts)
    });
  }

  /** Item `index` fails for its worker (crash, timeout, uncaught exception); nothing if the job has ended. */
  error(job: Job, index: number, error: WireError): void {
    if (!job.live) return;
    this.itemsDone++;
    this.observer?.itemFailed(job.client.client, error);
    this.#send(job.client, { type: 'chunk.result', id: job.id, start: index, count: 1, payload: UNDEFINED_RESULT, errors: [error], ms: 0 });
  }

  /**
   * A live job fails as a whole: its results not yet sent are dropped (the
   * client is done with the batch), and the failure goes after the client's
   * other unsent results, or now if none wait (read or not: it is small, and
   * ends the batch).
   */
  batchError(job: Job, error: WireError): void {
    const cq = job.client;
    this.observer?.batchFailed(cq.client, error);
    this.dropJob(cq, job.id);
    const m: BatchError = { type: 'batch.error', id: job.id, error };
    const waiting = this.#unsent.get(cq);
    if (waiting === undefined) cq.client.send(m);
    else waiting.push(m);
  }

  /** Sends what waits for `cq` while it reads. */
  drained(cq: ClientQueue): void {
    const waiting = this.#unsent.get(cq);
    if (waiting === undefined) return;
    let n = 0;
    while (n < waiting.length && (this.#force || cq.client.canReceive())) {
      const m = waiting[n++]!;
      // Off the count before it is written: counted twice (held and in the socket), it could spend the send budget.
      const bytes = bytesOf(m);
      if (bytes > 0) this.#held(cq, (this.#unsentBytes.get(cq) ?? 0) - bytes);
      cq.client.send(m);
      // Cut off by that write (the send budget, the hard cap): what waited went with the client (drop).
      if (this.#unsent.get(cq) !== waiting) return;
    }
    if (n === waiting.length) this.#unsent.delete(cq);
    else waiting.splice(0, n);
  }

  /** From now on results leave at once; what waits leaves now. */
  sendAll(): void {
    this.#force = true;
    for (const cq of [...this.#unsent.keys()]) this.drained(cq);
  }

  /** Drops what waits for one job of `cq` (cancelled or closed). */
  dropJob(cq: ClientQueue, id: number): void {
    const waiting = this.#unsent.get(cq);
    if (waiting === undefined) return;
    const keep = waiting.filter((m) => m.id !== id);
    if (keep.length === 0) this.#unsent.delete(cq);
    else this.#unsent.set(cq, keep);
    if (keep.length < waiting.length)
      this.#held(
        cq,
        keep.reduce((n, m) => n + bytesOf(m), 0),
      );
  }

  /** Drops what waits for a client that left. */
  drop(cq: ClientQueue): void {
    this.#unsent.delete(cq);
    this.#held(cq, 0);
  }

  /** Sends now if the client reads and nothing of its waits, else keeps it. */
  #send(cq: ClientQueue, m: ChunkResult | BatchError): void {
    const waiting = this.#unsent.get(cq);
    if ((waiting === undefined && cq.client.canReceive()) || this.#force) {
      cq.client.send(m);
      return;
    }
    if (waiting === undefined) this.#unsent.set(cq, [m]);
    else waiting.push(m);
    const bytes = bytesOf(m);
    if (bytes > 0) this.#held(cq, (this.#unsentBytes.get(cq) ?? 0) + bytes);
  }

  /** What waits for `cq` is now `bytes`: kept, and told to it. */
  #held(cq: ClientQueue, bytes: number): void {
    const was = this.#unsentBytes.get(cq) ?? 0;
    if (bytes === was) return;
    if (bytes === 0) this.#unsentBytes.delete(cq);
    else this.#unsentBytes.set(cq, bytes);
    cq.client.resultsWaiting?.(bytes);
  }
}
