/**
 * fanout.ts - a committed change's pushes to the subscribers of its name, and
 * what sending them took, charged to the connection that wrote it.
 *
 * A write is one request of its writer, but its pushes are one message per
 * subscriber: a 64 KiB value written in a loop with 50 subscribers made the
 * primary encode and write 3.2 MB a write, in commit reactions no connection's
 * turn share counted, and left a neighbour's awaited adds at 376 in 10 s
 * (18,800 with no subscriber). The time the pushes take is charged to the
 * writer (turn-share.ts), so a writer is read only as fast as its fan-out is
 * paid for.
 *
 * Charging is not enough when one write has many subscribers: a small value
 * with 2,000 subscribers (one per connection) held the primary ~45 ms a write
 * in one turn, its pushes' encoding and then their 2,000 socket writes (the
 * outboxes flush in the same turn's microtasks, which the charge did not
 * count), and an honest neighbour's awaited adds fell from 85,600 to 3,200 in
 * 7 s (p99 47 ms) beside a writer doing one awaited set at a time. So a
 * fan-out to more than SYNC_FANOUT subscribers is delivered SLICE_MS a turn,
 * its flushes counted in the slice and charged to the writer. Pushes keep
 * their commit order: while one is under way, the changes committed after it
 * wait behind it (whatever their name), and a reply that must not pass them
 * (a subscribe's current value, a dict's listing) waits for them (`settled`).
 */
import type { Push } from '@corepool/protocol';

import type { Subscribers } from './owner-index.js';

/** Subscribers a change is pushed to at once, in its commit's reaction: a few, the common case, cost less than a slice. */
export const SYNC_FANOUT = 64;
/** Most of a turn a fan-out takes, its sockets' writes included; the rest of its subscribers are pushed to in the turns after. */
export const SLICE_MS = 2;

/** A change being pushed, or waiting for those before it. */
interface Pending {
  owners: Iterator<string>;
  push: Push;
  writer: string | undefined;
  /** Replies waiting for this change's pushes to have gone (settled), resolved once they have. */
  settled?: { promise: Promise<void>; resolve: () => void };
}

export class Fanout {
  /** The owner whose request is being handled now (SharedState sets it around each one). */
  writer: string | undefined;
  /** Where the time a writer's pushes took goes (the primary charges its connection). */
  charge: (writer: string, ms: number) => void = () => {};
  readonly #deliver: (owner: string, push: Push) => void;
  /** Changes still to push, in commit order, from #pendingAt; the first is under way. */
  #pending: Pending[] = [];
  #pendingAt = 0;

  constructor(deliver: (owner: string, push: Push) => void) {
    this.#deliver = deliver;
  }

  /**
   * Pushes `push` to the subscribers `name` has once `committed` resolves (a change whose
   * commit failed is never pushed). Reactions on one batch run in order, and a change waits
   * for the pushes of those committed before it, so versions arrive in order.
   */
  after(committed: Promise<void>, subs: Subscribers, name: string, push: Push): void {
    const writer = this.writer;
    committed.then(
      () => {
        const owners = subs.of(name);
        if (owners === undefined) return;
        if (this.#pendingAt === this.#pending.length && owners.size <= SYNC_FANOUT) {
          const started = performance.now();
          for (const owner of owners) this.#deliver(owner, push);
          if (writer !== undefined) this.charge(writer, performance.now() - started);
          return;
        }
        // The live set: a subscriber gone before its turn is not pushed to, one come since is (its
        // subscribe's reply waits for this push: settled).
        if (this.#pending.push({ owners: owners.values(), push, writer }) === this.#pendingAt + 1) void this.#drain();
      },
      () => {},
    );
  }

  /**
   * Undefined when no push waits; else resolved once every change committed so far is pushed
   * (not those committed later): a reply carrying the state a subscriber starts from must not
   * pass an older push.
   */
  settled(): Promise<void> | undefined {
    if (this.#pendingAt === this.#pending.length) return undefined;
    const last = this.#pending[this.#pending.length - 1]!;
    if (last.settled === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      last.settled = { promise, resolve };
    }
    return last.settled.promise;
  }

  /** Pushes the pending changes, SLICE_MS a turn, each part charged to the writer whose pushes it made. */
  async #drain(): Promise<void> {
    let sliceStart = performance.now();
    let started = sliceStart;
    while (this.#pendingAt < this.#pending.length) {
      const p = this.#pending[this.#pendingAt]!;
      let done = false;
      for (let n = 0; n < SYNC_FANOUT; n++) {
        const next = p.owners.next();
        if (next.done === true) {
          done = true;
          break;
        }
        this.#deliver(next.value, p.push);
      }
      // After the outboxes' flushes, which the pushes queued as microtasks before this: the sockets' writes count too.
      await Promise.resolve();
      const now = performance.now();
      if (p.writer !== undefined) this.charge(p.writer, now - started);
      started = now;
      if (done) {
        this.#pending[this.#pendingAt++] = undefined!;
        if (this.#pendingAt === this.#pending.length) {
          this.#pending = [];
          this.#pendingAt = 0;
        }
        p.settled?.resolve();
      }
      if (now - sliceStart >= SLICE_MS && this.#pendingAt < this.#pending.length) {
        await new Promise<void>((r) => setImmediate(r));
        sliceStart = started = performance.now();
      }
    }
  }
}
