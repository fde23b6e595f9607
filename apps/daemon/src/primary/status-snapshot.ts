/**
 * status-snapshot.ts - the daemon's status (`daemon status`, `top`, the
 * dashboard's `/api/status`), paced (paced.ts): a status lists every client,
 * and making and encoding it reads each one's connection, ~4 ms of the
 * primary with 2,000 clients connected, ~20 ms with 10,000. Encoding is part
 * of its cost when a client asks for it, msgpack for a client, JSON for the
 * dashboard, each made once per status.
 */
import type { DaemonStatus } from '@corepool/protocol';
import { ENVELOPE_ROOM, EncodedValue, encodeMessage } from '@corepool/protocol/internal';
import type { Clock } from './clock.js';
import { Paced } from './paced.js';

/** One status made, for every request that waited for it. */
export class MadeStatus {
  readonly status: DaemonStatus;
  readonly #encoded: () => Uint8Array;
  readonly #json: () => Buffer;

  constructor(status: DaemonStatus, encoded: () => Uint8Array, json: () => Buffer) {
    this.status = status;
    this.#encoded = encoded;
    this.#json = json;
  }

  /** As JSON (the dashboard's /api/status), made once for all the requests that waited for it. */
  json(): Buffer {
    return this.#json();
  }

  /**
   * As a reply's value, encoded once for all its replies, and shared by them until each is written
   * (EncodedValue.shared). A copy each when made, a flood of status requests from one connection
   * made all its copies in one turn when the status came (~400 KB each with 1,000 clients connected),
   * held while the connection did not read.
   */
  reply(): EncodedValue {
    return new EncodedValue(this.#encoded(), true);
  }
}

/** Statuses made by `make`, paced. */
export function statusSnapshots(make: () => DaemonStatus, clock: Clock): Paced<MadeStatus> {
  return new Paced((spent) => {
    const status = make();
    // Each encoding made at its first use, once for every reply, its time counted in the pace.
    const once = <T>(encode: () => T): (() => T) => {
      let made: T | undefined;
      return () => {
        if (made === undefined) {
          const e0 = clock.now();
          made = encode();
          spent(clock.now() - e0);
        }
        return made;
      };
    };
    return new MadeStatus(
      status,
      once(() => {
        const encoded = encodeMessage(status);
        const bytes = new Uint8Array(ENVELOPE_ROOM + encoded.length);
        bytes.set(encoded, ENVELOPE_ROOM);
        return bytes;
      }),
      once(() => Buffer.from(JSON.stringify(status))),
    );
  }, clock);
}
