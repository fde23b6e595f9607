/**
 * What the primary and a worker's orphan guard thread (worker/orphan-guard.ts) say to each other
 * on the guard socket (GUARD_FD, channel.ts): the one way to reach a worker whose main thread is
 * busy in a synchronous task. Fixed frames of GUARD_MESSAGE_BYTES: an operation (int32) and a
 * chunk key (float64, as keys pass 2^31 on a daemon that runs for weeks), little-endian.
 *
 * Primary to worker: cut the running chunk short, sparing a key (worker/cut-signal.ts); withdraw a
 * chunk not started yet (worker/withdraw-gate.ts). Worker to primary: the chunk was withdrawn (it
 * will never run there), kept (it had started), or not noted (no room: it may run there); work a task left
 * behind keeps the main thread spinning (worker/run-state.ts).
 *
 * A task can write to fd 5 too. The primary reads no more than it could have asked for (one reply
 * per withdrawal, one leftover notice), and at anything else stops reading and replaces the worker,
 * as for a corrupt channel: a task cannot make it read without end, nor leave a worker whose
 * withdrawals are never answered; a forged reply is heeded only for a withdrawal under way.
 */
import type { Socket } from 'node:net';

/** Bytes per message: int32 operation, float64 chunk key. */
export const GUARD_MESSAGE_BYTES = 12;

/** The operations. */
export const GuardOp = {
  /** To the worker: cut the running chunk short unless it is chunk `key` (0: none). */
  cut: 1,
  /** To the worker: chunk `key` is to run elsewhere, unless it has started. */
  withdraw: 2,
  /** To the primary: chunk `key` was withdrawn before it started; the worker skips it. */
  withdrawn: 3,
  /** To the primary: chunk `key` stays: it had started (or the guard cannot tell that it had not). */
  kept: 4,
  /**
   * To the primary: chunk `key` was not noted, as withdrawals not yet reached fill the room for them
   * (a worker held by an item that does not end is never reached): the worker may still run it.
   */
  full: 5,
  /** To the primary: the worker's main thread spins with no chunk running. */
  leftover: -1,
} as const;

/** What a worker answered to a withdrawal. */
export type WithdrawOutcome = 'withdrawn' | 'kept' | 'full';

/** One message. */
export function guardMessage(op: number, key: number): Buffer {
  const b = Buffer.allocUnsafe(GUARD_MESSAGE_BYTES);
  b.writeInt32LE(op, 0);
  b.writeDoubleLE(key, 4);
  return b;
}

/** What the primary hears from a worker's guard. */
export interface GuardListener {
  /** The orphan guard's leftover notice (told once). */
  leftover(): void;
  /** The answer to a withdrawal (GuardOp.withdrawn, kept or full). */
  answer(key: number, outcome: WithdrawOutcome): void;
  /** Answers still owed: a reply beyond them was not asked for (a task wrote it). */
  owed(): number;
  /** Something no guard writes came (a task wrote it): nothing more is read. */
  corrupt(why: string): void;
}

/** Reads what a worker writes on its guard socket; see the header for what ends the reading. */
export function readGuardMessages(guard: Socket, listener: GuardListener): void {
  let held = Buffer.alloc(0);
  let leftovers = 0;
  const stop = (why: string): void => {
    guard.pause();
    guard.removeAllListeners('data');
    listener.corrupt(why);
  };
  guard.on('data', (chunk: Buffer) => {
    const bytes = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    const whole = bytes.length - (bytes.length % GUARD_MESSAGE_BYTES);
    for (let at = 0; at < whole; at += GUARD_MESSAGE_BYTES) {
      const op = bytes.readInt32LE(at);
      const key = bytes.readDoubleLE(at + 4);
      const answer = op === GuardOp.withdrawn || op === GuardOp.kept || op === GuardOp.full;
      if (op === GuardOp.leftover && leftovers++ === 0) {
        listener.leftover();
      } else if (answer && Number.isSafeInteger(key) && listener.owed() > 0) {
        listener.answer(key, op === GuardOp.withdrawn ? 'withdrawn' : op === GuardOp.kept ? 'kept' : 'full');
      } else {
        stop(answer ? 'an answer to no withdrawal' : op === GuardOp.leftover ? 'a second leftover notice' : `unknown operation ${op}`);
        return;
      }
    }
    held = Buffer.from(bytes.subarray(whole));
  });
}
