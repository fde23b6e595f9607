/**
 * status-snapshot.ts - the daemon's status (`daemon status`, `top`, the
 * dashboard's `/api/status`), made again only once the last one is older than
 * REUSE_FACTOR times what it cost. A status lists every client, and making and
 * encoding it reads each one's connection (cold memory a client apart): ~4 ms
 * of the primary with 2,000 clients connected, ~20 ms with 10,000, in one turn
 * that no other client's request can interrupt. A client asking for it from 50
 * requests in flight, beside 2,000 idle ones, held the primary ~75% of the time
 * and cut a neighbour's awaited adds from 32,000 to 3,188 in 5 s. Served again
 * while young, status takes at most 1/REUSE_FACTOR of the primary however many
 * ask, and a daemon with few clients, whose status costs ~0.05 ms, makes a
 * fresh one for any request more than a millisecond after the last. A client
 * that connected or left since makes a fresh one too: an app that connects and
 * asks at once finds itself listed (a first status, its code not yet compiled,
 * took a few ms, and served one made before the app connected).
 */
import type { DaemonStatus } from '@corepool/protocol';
import { ENVELOPE_ROOM, EncodedValue, encodeMessage } from '@corepool/protocol/internal';

/** A status is served again until it is this many times as old as it took to make (and encode). */
export const REUSE_FACTOR = 20;

export class StatusSnapshots {
  readonly #make: () => DaemonStatus;
  /** Changes whenever a client connects or leaves. */
  readonly #clients: () => number;
  readonly #now: () => number;
  #clientsAt = NaN;
  #status: DaemonStatus | undefined;
  /** Its msgpack bytes once a client asked for it, ENVELOPE_ROOM free at the front (EncodedValue). */
  #encoded: Uint8Array | undefined;
  #madeAt = -Infinity;
  /** What making it (and encoding it, once asked) took, in ms. */
  #costMs = 0;

  constructor(make: () => DaemonStatus, clients: () => number, now: () => number = () => performance.now()) {
    this.#make = make;
    this.#clients = clients;
    this.#now = now;
  }

  /** The status: the last one made while it is young enough, else a new one. */
  current(): DaemonStatus {
    const now = this.#now();
    const clients = this.#clients();
    if (this.#status !== undefined && clients === this.#clientsAt && now - this.#madeAt <= this.#costMs * REUSE_FACTOR) return this.#status;
    this.#status = this.#make();
    this.#clientsAt = clients;
    this.#encoded = undefined;
    this.#madeAt = now;
    this.#costMs = this.#now() - now;
    return this.#status;
  }

  /**
   * The status as a reply's value, encoded once per status made. Each reply gets its own copy:
   * its envelope is written into the buffer's front, and the frame of an earlier reply may still
   * wait in a socket.
   */
  reply(): EncodedValue {
    const status = this.current();
    if (this.#encoded === undefined) {
      const t0 = this.#now();
      const bytes = encodeMessage(status);
      const buf = new Uint8Array(ENVELOPE_ROOM + bytes.length);
      buf.set(bytes, ENVELOPE_ROOM);
      this.#encoded = buf;
      this.#costMs += this.#now() - t0;
    }
    return new EncodedValue(this.#encoded.slice());
  }
}
