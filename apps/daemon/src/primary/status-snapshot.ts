/**
 * status-snapshot.ts - the daemon's status (`daemon status`, `top`, the
 * dashboard's `/api/status`), made at most once per REUSE_FACTOR times what
 * the last one cost. A status lists every client, and making and encoding it
 * reads each one's connection (cold memory a client apart): ~4 ms of the
 * primary with 2,000 clients connected, ~20 ms with 10,000, in one turn that no
 * other client's request can interrupt. A client asking for it from 50
 * requests in flight, beside 2,000 idle ones, held the primary ~75% of the
 * time and cut a neighbour's awaited adds from 32,000 to 3,188 in 5 s.
 *
 * A request that comes sooner waits for the next status, and every request
 * waiting then gets that one: each reply is made after its request came, so
 * what a client did before asking shows (a status served again from before
 * the request, tried first, showed a client connected since as absent and a
 * get blocked since as not). Status then takes at most 1/REUSE_FACTOR of the
 * primary however many ask; with few clients it costs ~0.05 ms, and a request
 * waits a millisecond at most. No request waits over MAX_WAIT_MS, however
 * long the last status took (a pause of the whole process counts in it).
 */
import type { DaemonStatus } from '@corepool/protocol';
import { ENVELOPE_ROOM, EncodedValue, encodeMessage } from '@corepool/protocol/internal';
import type { Clock, Timer } from './clock.js';

/** A status is made again once this many times what the last one cost has passed. */
export const REUSE_FACTOR = 20;
/** Longest a request waits for the next status. */
export const MAX_WAIT_MS = 1000;

/** One status made, for every request that waited for it. */
export class MadeStatus {
  readonly status: DaemonStatus;
  readonly #encoded: () => Uint8Array;

  constructor(status: DaemonStatus, encoded: () => Uint8Array) {
    this.status = status;
    this.#encoded = encoded;
  }

  /**
   * As a reply's value, encoded once for all its replies. Each reply gets its own copy: its
   * envelope is written into the buffer's front, and an earlier reply's frame may still wait in a socket.
   */
  reply(): EncodedValue {
    return new EncodedValue(this.#encoded().slice());
  }
}

export class StatusSnapshots {
  readonly #make: () => DaemonStatus;
  readonly #clock: Clock;
  /** When the next status may be made. */
  #nextAt = -Infinity;
  #timer: Timer | undefined;
  #waiting: ((made: MadeStatus) => void)[] = [];

  constructor(make: () => DaemonStatus, clock: Clock) {
    this.#make = make;
    this.#clock = clock;
  }

  /** A status made after this call: now, or once the last one is old enough (then shared by every request waiting). */
  next(): Promise<MadeStatus> {
    if (this.#timer === undefined && this.#clock.now() >= this.#nextAt) return Promise.resolve(this.#made());
    const made = new Promise<MadeStatus>((resolve) => this.#waiting.push(resolve));
    this.#timer ??= this.#clock.after(Math.max(0, this.#nextAt - this.#clock.now()), () => {
      this.#timer = undefined;
      const waiting = this.#waiting;
      this.#waiting = [];
      const m = this.#made();
      for (const resolve of waiting) resolve(m);
    });
    return made;
  }

  #made(): MadeStatus {
    const t0 = this.#clock.now();
    const status = this.#make();
    let cost = this.#clock.now() - t0;
    this.#pace(t0, cost);
    let bytes: Uint8Array | undefined;
    return new MadeStatus(status, () => {
      if (bytes === undefined) {
        const e0 = this.#clock.now();
        const encoded = encodeMessage(status);
        bytes = new Uint8Array(ENVELOPE_ROOM + encoded.length);
        bytes.set(encoded, ENVELOPE_ROOM);
        // Encoding is part of what it cost (asked for by a client, not by the dashboard).
        cost += this.#clock.now() - e0;
        this.#pace(t0, cost);
      }
      return bytes;
    });
  }

  #pace(madeAt: number, cost: number): void {
    this.#nextAt = Math.max(this.#nextAt, madeAt + Math.min(MAX_WAIT_MS, cost * REUSE_FACTOR));
  }
}
