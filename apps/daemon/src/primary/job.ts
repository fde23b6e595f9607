/**
 * A job: one client batch as the scheduler runs it (the client calls it a
 * batch; the store has batches of its own), cut into chunks. A chunk is a
 * range [offset, offset + count) of the items in one encoded payload; a split
 * or a retry makes new chunks over the same payload, never new bytes.
 */
import type { TaskSpec } from '@corepool/protocol';
import type { Timer } from './clock.js';
import type { ClientQueue } from './client-queues.js';
import type { PoolWorker } from './worker-pool.js';

export interface Job {
  /** The client's batch id. */
  readonly id: number;
  readonly client: ClientQueue;
  /** Its version set once known, for a module file hashed off the primary's thread (module-version.ts). */
  task: TaskSpec;
  /** Chunks that came while the task's version was being made: queued once it is. */
  held?: Chunk[];
  /** While the task's version is being made: gives up the wait for it (module-hashes.ts). */
  unwait?: () => void;
  readonly timeoutMs: number;
  readonly retries: number;
  /** Order among its client's jobs, higher first (client-queues.ts). */
  readonly priority: number;
  /** Chunks waiting for a worker, in the order they go. */
  readonly queue: Chunk[];
  /** Chunks held by workers (not counting ghosts). */
  readonly running: Set<Chunk>;
  live: boolean;
  /** Mean run time of one item, from the last chunk done (0 until one is). */
  itemMs: number;
  /** The client sent its last chunk: the job is forgotten once nothing is queued or running. */
  final: boolean;
  /** The code generation its chunks run on (every item on the same code, across a reload); undefined: any. */
  readonly generation?: number;
}

export interface Chunk {
  /** Names it to its worker; a copy (retry, split, steal) gets a new key. */
  readonly key: number;
  readonly job: Job;
  /** Its job's client, charged for the worker time it takes. */
  readonly tenant: ClientQueue;
  /** Virtual time charged for it while a worker holds it (fair-share.ts). */
  charged: number;
  /** Charged before it was placed: the rest of a chunk cut short (fair-share.ts prepay). */
  prepaid: number;
  readonly payload: Uint8Array;
  readonly offset: number;
  readonly count: number;
  /** Input index of the chunk's first item. */
  readonly start: number;
  /** Crashes while this (single-item) chunk ran. */
  attempts: number;
  /** Worker deaths this chunk's items lived through before the culprit was known. */
  crashes: number;
  /** The worker reports each item as it starts, so a crash names the item (after a first, anonymous crash). */
  tracked: boolean;
  begun: boolean;
  /** Sent ahead of the worker's prefetched chunks (a newcomer's first chunk). */
  urgent: boolean;
  /** When it became the first chunk of its worker (roughly when it started running): set on every worker's first chunk, undefined while it waits behind one. */
  headAt: number | undefined;
  /** When it was sent to its worker (Clock.now()): the start of its round trip. */
  placedAt: number;
  /** Moved to another worker: this copy only holds its old worker's slot until the worker answers for it. */
  ghost: boolean;
  /** Its worker was asked to withdraw it (placement.ts #move): an answer that it did is heeded whenever it comes. */
  withdrawAsked: boolean;
  /** Index (within the chunk) of the item running, for timed jobs. */
  current: number;
  /** Item (within the chunk) whose outcome was already delivered (timeout, uncaught exception); its worker is being replaced. */
  failedAt: number;
  /** Items (from the first) whose results came in parts: every item had run, and these are delivered. */
  sent: number;
  /** When its worker was asked to cut it short (placement.ts; asked once), or -Infinity. */
  cutAskedAt: number;
  /** That request spared none and came before its worker had begun it: it may have been dropped, and is asked again. */
  cutAskedUnbegun: boolean;
  /** A cut request sparing it went to its worker (its running chunk cut for it, or `#passable`): none is sent again (placement.ts). */
  spareAsked: boolean;
  /** The running item's deadline. */
  timer?: Timer;
}

/** Makes chunks with keys unique within one scheduler. */
export class ChunkMint {
  #nextKey = 1;

  /** A fresh chunk of `job`: items [offset, offset + count) of `payload`, the first being input index `start`. */
  chunk(job: Job, payload: Uint8Array, offset: number, count: number, start: number): Chunk {
    return {
      key: this.#nextKey++,
      job,
      tenant: job.client,
      charged: 0,
      prepaid: 0,
      payload,
      offset,
      count,
      start,
      attempts: 0,
      crashes: 0,
      tracked: false,
      begun: false,
      urgent: false,
      current: -1,
      failedAt: -1,
      sent: 0,
      cutAskedAt: -Infinity,
      cutAskedUnbegun: false,
      spareAsked: false,
      headAt: undefined,
      placedAt: 0,
      ghost: false,
      withdrawAsked: false,
    };
  }

  /** A fresh chunk (new key) for `chunk`'s items [from, from + count), with no history. */
  piece(chunk: Chunk, from: number, count: number): Chunk {
    return this.chunk(chunk.job, chunk.payload, chunk.offset + from, count, chunk.start + from);
  }

  /** A fresh chunk (new key) for `chunk`'s items from `from` on, carrying its crash history. */
  successor(chunk: Chunk, from: number): Chunk {
    const next = this.piece(chunk, from, chunk.count - from);
    next.attempts = chunk.attempts;
    next.crashes = chunk.crashes;
    next.tracked = chunk.tracked;
    return next;
  }

  /** What is left of a chunk whose worker died after delivering its first items in parts (the rest had run too). */
  rest(chunk: Chunk): Chunk {
    const n = chunk.sent;
    const rest = this.successor(chunk, n);
    rest.begun = true;
    rest.current = chunk.current >= n ? chunk.current - n : -1;
    rest.failedAt = chunk.failedAt >= n ? chunk.failedAt - n : -1;
    return rest;
  }
}

/** True if `w` may run chunks of `job`: the job's generation, or either is unpinned. */
export function fits(job: Job, w: PoolWorker): boolean {
  return job.generation === undefined || w.generation === undefined || job.generation === w.generation;
}
