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
 */
import type { Push } from '@corepool/protocol';

import type { Subscribers } from './owner-index.js';

export class Fanout {
  /** The owner whose request is being handled now (SharedState sets it around each one). */
  writer: string | undefined;
  /** Where the time a writer's pushes took goes (the primary charges its connection). */
  charge: (writer: string, ms: number) => void = () => {};
  readonly #deliver: (owner: string, push: Push) => void;

  constructor(deliver: (owner: string, push: Push) => void) {
    this.#deliver = deliver;
  }

  /**
   * Pushes `push` to the subscribers `name` has once `committed` resolves (a change whose
   * commit failed is never pushed). Reactions on one batch run in order, so versions arrive in order.
   */
  after(committed: Promise<void>, subs: Subscribers, name: string, push: Push): void {
    const writer = this.writer;
    committed.then(
      () => {
        const owners = subs.of(name);
        if (owners === undefined) return;
        const started = performance.now();
        for (const owner of owners) this.#deliver(owner, push);
        if (writer !== undefined) this.charge(writer, performance.now() - started);
      },
      () => {},
    );
  }
}
