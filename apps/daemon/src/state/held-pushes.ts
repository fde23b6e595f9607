/**
 * held-pushes.ts - a dict's pushes to an owner held back while that owner's
 * listing of the dict is encoded over turns (listing-encoder.ts). The listing
 * is what the dict held at the request's turn; a write after it commits and
 * is pushed within a turn, while the listing's reply leaves many turns later.
 * A subscriber reading entries() to start over (a resync) would get the push,
 * then the older listing, and keep the older value. Held, the pushes follow
 * the reply, in their order.
 *
 * They wait as a slow client's pushes do (coalesced-pushes.ts): the latest per
 * key, in version order, within the send high-water mark, past which they give
 * way to one resync (8 MiB, the default mark). Kept in full, a co-tenant writing new keys while a large
 * listing was encoded (seconds for 300k keys) made the primary hold every one
 * of its pushes, uncounted, for each lister.
 */
import { SEND_HIGH_WATER, type Push } from '@corepool/protocol/internal';
import { CoalescedPushes } from './coalesced-pushes.js';

interface Hold {
  /** Listings of the dict by the owner in progress. */
  listings: number;
  pushes: CoalescedPushes;
}

export class HeldPushes {
  readonly #send: (owner: string, p: Push) => void;
  /** By owner, then dict name. */
  readonly #holds = new Map<string, Map<string, Hold>>();

  constructor(send: (owner: string, p: Push) => void) {
    this.#send = send;
  }

  /** Sends `p` to `owner`, or holds it while a listing of its dict by the owner is encoded. */
  deliver(owner: string, p: Push): void {
    const hold = p.kind === 'dict' && this.#holds.size > 0 ? this.#holds.get(owner)?.get(p.name) : undefined;
    if (hold === undefined) this.#send(owner, p);
    else hold.pushes.add(p);
  }

  /** Holds the dict's pushes to `owner` until the returned release is called (once). */
  hold(owner: string, name: string): () => void {
    let byName = this.#holds.get(owner);
    if (byName === undefined) this.#holds.set(owner, (byName = new Map()));
    let hold = byName.get(name);
    if (hold === undefined) byName.set(name, (hold = { listings: 0, pushes: new CoalescedPushes(SEND_HIGH_WATER) }));
    hold.listings++;
    const held = hold;
    return () => {
      // In a turn of its own: the listing's reply is sent from the reactions to its settling, before this.
      setImmediate(() => {
        const names = this.#holds.get(owner);
        // Dropped with its owner: nothing to send.
        if (--held.listings > 0 || names?.get(name) !== held) return;
        names.delete(name);
        if (names.size === 0) this.#holds.delete(owner);
        for (let p = held.pushes.shift(); p !== undefined; p = held.pushes.shift()) this.#send(owner, p);
      });
    };
  }

  /** The owner went: nothing more is held for it (its pushes would go nowhere). */
  dropOwner(owner: string): void {
    this.#holds.delete(owner);
  }
}
