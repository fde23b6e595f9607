/**
 * report-queue.ts - the lender's queue of one lent worker's reports on their
 * way to the owner (lender.ts, the `report` script): in the order the worker
 * said them, at most MAX_IN_FLIGHT scripts at once, and a chunk's `started`
 * messages coalesced while they wait.
 *
 * A worker running a timed batch (a per-item timeout) says `started` before
 * every item. Locally that costs the primary nothing much; lent, each was a
 * script on Redis and an entry in the owner's inbox. Trivial items on two
 * lent workers made ~100,000 a second: the lender's primary, sending them,
 * fell seconds behind and lost its lease (its own clients' state refused, its
 * lent chunks killed and rerun), and the owner's inbox reached the 10,000
 * entries past which unread ones are trimmed. The owner only arms the
 * deadline of the item a chunk runs now (scheduler.ts), so a `started` not
 * yet sent is replaced by the next one of its chunk, and one goes out only
 * when none of this worker's reports is in flight: at most one a round trip,
 * late by at most that.
 *
 * Other reports (parts, done, fail) are sent as they come, pipelined. What
 * must follow them on the connection (the grant's end: its key's DEL, the
 * `end` to the owner) is queued as a step (`then`) and run in its turn, so a
 * `done` the worker sent before its grant ended still reaches the owner first.
 */
import type { ChunkMessage } from '../primary/worker-pool.js';

/** One report: the worker's message under the owner's key, and its attempt fence. */
export interface Report {
  m: ChunkMessage;
  /** `<owner>:<key>`, '' for a message about no chunk. */
  field: string;
  attempt: number;
  /** The chunk is over: its attempt number goes. */
  final: boolean;
}

/** Reports of one worker in flight at once (pipelined on the command connection). */
const MAX_IN_FLIGHT = 8;

type Step = { report: Report } | { then: () => void };

export class ReportQueue {
  readonly #send: (r: Report) => Promise<void>;
  readonly #waiting: Step[] = [];
  #inFlight = 0;
  #pumping = false;

  /** `send` runs the report script for one report; it must not reject. */
  constructor(send: (r: Report) => Promise<void>) {
    this.#send = send;
  }

  /** Reports waiting to be sent (tests). */
  get waiting(): number {
    return this.#waiting.length;
  }

  push(r: Report): void {
    const last = this.#waiting.at(-1);
    if (r.m.t === 'started' && last !== undefined && 'report' in last && last.report.m.t === 'started' && last.report.field === r.field) {
      // Nothing between them: the newer item's start stands for both.
      last.report = r;
      return;
    }
    this.#waiting.push({ report: r });
    this.#pump();
  }

  /** Runs `f` once every report pushed before it has been sent (issued, not answered). */
  then(f: () => void): void {
    this.#waiting.push({ then: f });
    this.#pump();
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        const head = this.#waiting[0];
        if (head === undefined) return;
        if ('then' in head) {
          this.#waiting.shift();
          head.then();
          continue;
        }
        if (this.#inFlight >= MAX_IN_FLIGHT || (head.report.m.t === 'started' && this.#inFlight > 0)) return;
        this.#waiting.shift();
        this.#inFlight++;
        void this.#send(head.report).finally(() => {
          this.#inFlight--;
          this.#pump();
        });
      }
    } finally {
      this.#pumping = false;
    }
  }
}
