/**
 * Messages between the primary and its workers, carried by the data channel
 * (channel.ts: framed msgpack over a socket pair; node:cluster only keeps the
 * lifecycle). Payloads stay msgpack bytes: the primary never decodes items or results.
 * A message's `payload` is its last field where it is made, so that the channel
 * writes the payload's bytes as they are, not copied (split-message.ts).
 */
import type { Push, StateRequest, TaskSpec, WireError } from '@corepool/protocol';
import type { WithdrawOutcome } from './guard-messages.js';

/** Environment variable telling workers the largest encoded result (and part of a chunk's results) they may send. */
export const MAX_RESULT_ENV = 'COREPOOL_MAX_RESULT_BYTES';
/** The RSS watchdog's limit in bytes (0: none), for a worker to tell when another app's chunk would find it too full (realm-guard.ts). */
export const RSS_LIMIT_ENV = 'COREPOOL_WORKER_RSS_LIMIT';

/** Run items [offset, offset + count) of `payload` (an encoded array); their input indexes start at `start`. */
export interface RunMessage {
  t: 'run';
  key: number;
  task: TaskSpec;
  payload: Uint8Array;
  offset: number;
  count: number;
  start: number;
  /** Report each item as it starts (the primary times items out). */
  timed: boolean;
  /** Run it next, before chunks already waiting in this worker. */
  urgent: boolean;
  /**
   * An urgent chunk's place: right after the chunk with this key (the one the primary took to be
   * running) if the worker has not started that one yet, else first (run-queue.ts).
   */
  after?: number;
  /**
   * Whose chunk it is: an opaque name of the client's app, unique beyond one
   * daemon (worker-pool.ts). The worker puts its globals back to their
   * startup state before it runs a chunk of another realm (realm-guard.ts).
   */
  realm: string;
}
/** Stop the chunk: its ctx.signal aborts; the worker drops it if it has not started. */
export interface AbortMessage {
  t: 'abort';
  key: number;
}
export interface StateReplyMessage {
  t: 'state.reply';
  rid: number;
  ok: boolean;
  /**
   * A queue item handed to a get: the worker acknowledges it as it reads it (StateAckMessage), and
   * it goes back to the front of its queue if the worker dies before (worker-state-link.ts).
   */
  ack?: true;
  value?: unknown;
  error?: WireError;
  /**
   * The value's msgpack bytes, in place of `value` (a large listing, encoded by the primary a slice at
   * a time); last, so that the channel writes them as they are.
   */
  payload?: Uint8Array;
}
export interface PushMessage {
  t: 'push';
  push: Push;
}
export type PrimaryToWorker = RunMessage | AbortMessage | StateReplyMessage | PushMessage;

export interface ReadyMessage {
  t: 'ready';
  /** The worker initializer failed (E_INIT_FAILED): the worker fails every chunk it is sent. */
  initError?: WireError;
}
/** Item `start + i` of chunk `key` is starting (timed batches only). */
export interface StartedMessage {
  t: 'started';
  key: number;
  i: number;
}
/**
 * Urgent chunk `key` came after the chunk it was to follow (`after`) had ended, while chunk
 * `running` ran: it runs right after `running`, not in its place (worker/run-queue.ts). The
 * primary took `after` to be running when it sent `key`, and would otherwise time `key`'s first
 * item, and aim cut requests, as if it ran while `running` did.
 */
export interface BehindMessage {
  t: 'behind';
  key: number;
  running: number;
}
/**
 * The chunk finished: an encoded array of its results from item `from` (0 if
 * absent) to its end, with per-item errors; the items before `from` came in parts.
 */
export interface DoneMessage {
  t: 'done';
  key: number;
  payload: Uint8Array;
  errors: WireError[];
  ms: number;
  aborted: boolean;
  from?: number;
  /**
   * The primary asked to cut the chunk short (a client arrived): it stopped after
   * this many items (at least one), whose results the payload holds (from `from`);
   * the primary queues the rest again.
   */
  cut?: number;
}
/**
 * Results of items [from, from + count) of a finished chunk whose results do
 * not fit one frame: sent in index order before the chunk's `done`, each part
 * within the frame limit; `ms` is the part's share of the chunk's time.
 */
export interface PartMessage {
  t: 'part';
  key: number;
  from: number;
  count: number;
  payload: Uint8Array;
  errors: WireError[];
  ms: number;
}
/** The chunk could not run at all (bad task): the whole batch fails. */
export interface FailMessage {
  t: 'fail';
  key: number;
  error: WireError;
}
/**
 * An exception escaped a task's async callback (a throw inside setTimeout):
 * the worker reports it against the item running (`key`/`i`, if any) and exits.
 */
export interface UncaughtMessage {
  t: 'uncaught';
  key?: number;
  i?: number;
  error: WireError;
}
/**
 * The worker is about to exit for a reason none of its chunks caused (a
 * callback another realm's task left behind threw or called process.exit, or
 * a realm dirtied the worker past repair): its chunks are requeued without blame.
 */
export interface RecycleMessage {
  t: 'recycle';
  reason: string;
  /** The realm whose task made the worker unusable: the restart is charged to its client. */
  culprit?: string;
  /**
   * No culprit is known, but the worker went on spinning after its chunks were done (the orphan guard's notice,
   * confirmed by the primary): the restart is charged to the realm whose chunk ran there last, the likeliest to
   * have left the work. Charged to no one, an app whose every item left a spin behind took worker after worker
   * for 5-7 s each, and a neighbour's submit waited over 20 s.
   */
  lastRan?: true;
}
/**
 * The answer to a withdrawal (WorkerPool.withdraw). Not sent on the channel: the orphan guard's
 * thread writes it on the guard socket (guard-messages.ts), and the pool tells it as a message.
 */
export interface WithdrawnMessage {
  t: 'withdrawn';
  key: number;
  /** withdrawn: the worker will not run the chunk; kept: it had started; full: not noted, it may run there (guard-messages.ts). */
  outcome: WithdrawOutcome;
}
/** A task's shared-state request (ctx.value(...) and friends). */
export interface StateMessage {
  t: 'state';
  rid: number;
  req: StateRequest;
}
/**
 * The running chunk was aborted (its batch cancelled), or a task ended with calls still blocked:
 * the worker's blocked queue gets fail with E_CANCELLED at once, so that an item put during the
 * abort's grace does not go to a task whose result is thrown away (task-scope.ts). With `locks`,
 * its blocked lock acquires too: left waiting by tasks that ended, they kept the worker's quota of
 * locks held or awaited, shared by every app whose tasks run there.
 */
export interface StateCancelMessage {
  t: 'state.cancel';
  locks?: true;
}
/** The worker read reply `rid` (one that asked for it: a queue item handed to a get). */
export interface StateAckMessage {
  t: 'state.ack';
  rid: number;
}
/** An item a get took for a task cancelled meanwhile: back to the front of its queue. */
export interface StateReturnMessage {
  t: 'state.return';
  name: string;
  value: Uint8Array;
}
export type WorkerToPrimary =
  | ReadyMessage
  | StartedMessage
  | BehindMessage
  | PartMessage
  | DoneMessage
  | FailMessage
  | UncaughtMessage
  | RecycleMessage
  | StateMessage
  | StateCancelMessage
  | StateAckMessage
  | StateReturnMessage;
/** The worker initializer's file: URL (`daemon start --init`), for the worker to run before it reports ready. */
export const INIT_ENV = 'COREPOOL_WORKER_INIT';
/** Set instead of running the initializer when this slot's last one hung: the worker reports this failure at once. */
export const INIT_FAILED_ENV = 'COREPOOL_WORKER_INIT_FAILED';
