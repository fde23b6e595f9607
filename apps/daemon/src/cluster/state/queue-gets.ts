/**
 * queue-gets.ts - Queue's gets in cluster mode: a get takes the queue's
 * first item at once (QUEUE_GET), or parks here when the queue is empty and
 * is retried, oldest first, when the change feed says the queue gained an
 * item and on the slow poll. An item taken for a caller that is gone goes
 * back to the front (QUEUE_PUT_BACK), retried while Redis does not answer.
 */
import { TimeoutError } from '@corepool/protocol';

import { OwnerQuota } from '../../state/owner-index.js';
import type { ReplayKey } from '../../state/state-store.js';
import { ParkedCalls } from './parked.js';
import { PollSweep, queuesWithItems } from './poll-sweep.js';
import { Pumps } from './pump.js';
import { QUEUE_GET, QUEUE_PUT_BACK } from './queue-scripts.js';
import { bytes } from './replies.js';
import { Script } from './scripts.js';
import type { StateRedis } from './state-redis.js';

const GET = new Script(QUEUE_GET);
const PUT_BACK = new Script(QUEUE_PUT_BACK);

/** An item to put back. */
interface PutBack {
  name: string;
  item: Uint8Array;
  key: ReplayKey | undefined;
}

export class QueueGets {
  readonly #r: StateRedis;
  readonly #blocked = new OwnerQuota('blocked queue gets');
  readonly #parked = new ParkedCalls<Uint8Array>((p) => this.#blocked.remove(p.owner));
  readonly #pumps: Pumps;
  readonly #putBacks: PutBack[] = [];
  /** The poll wakes only the queues Redis says hold an item, not every queue gets are parked on. */
  readonly #sweep: PollSweep;

  constructor(r: StateRedis) {
    this.#r = r;
    this.#pumps = new Pumps(() => !r.closed && r.node.held());
    this.#sweep = new PollSweep(
      (names) =>
        queuesWithItems(
          r.node.redis,
          names.map((n) => r.keys.queue(n)),
        ),
      (name) => this.wake(name),
    );
  }

  /** Gets parked now. */
  get size(): number {
    return this.#parked.size;
  }

  /** The first item of `name`, now or once one comes (E_TIMEOUT past `timeoutMs`; 0: do not wait). */
  async get(owner: string, name: string, timeoutMs: number | undefined, key: ReplayKey | undefined): Promise<Uint8Array> {
    // Behind gets already parked here, a new one parks too: this daemon serves its own in arrival order.
    if (this.#parked.has(name)) this.#r.ready();
    else {
      const [got, cancel] = await this.#parked.firstTry(owner, () => this.#take(this.#r.holder(owner), name, key));
      // Taken across a cancel, it is still answered: the worker puts it back (task-scope.ts); an owner gone
      // meanwhile is not answered, and what is not delivered goes back (dispatch.ts, worker-state-link.ts).
      if (got !== undefined) return got;
      if (cancel !== undefined) throw cancel;
    }
    if (timeoutMs === 0) throw new TimeoutError(`queue "${name}" is empty`, { timeoutMs });
    this.#blocked.check(owner);
    this.#blocked.add(owner);
    const timedOut = (): Error => new TimeoutError(`queue "${name}": no item within ${timeoutMs} ms`, { timeoutMs });
    const parked = this.#parked.park(owner, name, key, timeoutMs, timedOut);
    // An item put between the take above and the park woke nobody here.
    this.wake(name);
    return parked;
  }

  /** The queue gained an item (or may have): serve the gets parked on it. */
  wake(name: string): void {
    if (!this.#parked.has(name)) return;
    void this.#pumps.pump(name, async () => {
      const w = this.#parked.first(name);
      if (w === undefined) return 'done';
      const got = await this.#take(this.#r.holder(w.owner), name, w.key);
      if (got === undefined) return 'empty';
      // It left meanwhile (timed out, its owner went): the item goes back to the front.
      if (!this.#parked.resolve(w, got)) this.putBack(name, got, w.key);
      return 'again';
    });
  }

  /**
   * Puts `item` back at the front of `name`. With the replay key it was taken under,
   * only if no other daemon has answered a resend with it since.
   */
  putBack(name: string, item: Uint8Array, key: ReplayKey | undefined): void {
    const r = this.#r;
    r.track(
      r
        .script(PUT_BACK, key, [r.keys.queue(name), r.keys.held(r.node.id)], [item, name, r.holder('')])
        .catch(() => this.#putBacks.push({ name, item, key })),
    );
  }

  /** The slow poll: parked gets tried again where their queue holds an item (poll-sweep.ts), put-backs Redis did not take sent again. */
  poll(): void {
    if (this.#r.node.held()) this.#sweep.run(this.#parked.names());
    for (const p of this.#putBacks.splice(0)) this.putBack(p.name, p.item, p.key);
  }

  /** Fails the parked gets of `owner`, which is gone. */
  dropOwner(owner: string, err: Error): void {
    this.#parked.dropOwner(owner, err);
    this.#blocked.drop(owner);
  }

  /** Fails the parked gets of `owner`, and those whose first take is in flight now; the owner stays. */
  cancel(owner: string, err: Error): void {
    this.#parked.cancel(owner, err);
    this.#blocked.drop(owner);
  }

  /** Fails every parked get. */
  dropAll(err: Error): void {
    this.#parked.dropAll(err);
  }

  /** Takes the queue's first item for `holder` (kept as the reply under `key`), or undefined when it is empty. */
  async #take(holder: string, name: string, key: ReplayKey | undefined): Promise<Uint8Array | undefined> {
    const a = await this.#r.run(GET, key, [this.#r.keys.queue(name), this.#r.keys.held(this.#r.node.id)], [holder, name]);
    return a.word === 'empty' ? undefined : bytes(a.rest[0]);
  }
}
