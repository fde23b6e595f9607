/**
 * poll-sweep.ts - the slow poll's look at the names calls are parked on
 * (queue-gets.ts, lock-grants.ts). Redis is asked which of them could be
 * served now, a page of names per read-only script, and only those are woken.
 * Waking every name instead cost a script per name each poll, in Redis and on
 * this daemon's thread: 20,000 gets parked on distinct empty queues, from two
 * connections within their limits, took a daemon's thread long enough to lose
 * its lease (every app's state E_UNAVAILABLE there). A poll looks at most
 * SWEEP_PAGES pages, one in flight at a time, going on where the last one
 * stopped, so its cost is bounded whatever is parked: below SWEEP_PAGES x
 * SWEEP_PAGE names, every name is looked at every poll.
 */
import type { Redis } from 'ioredis';

import { Script } from './scripts.js';

/** Names looked at by one script. */
export const SWEEP_PAGE = 1_000;
/** Pages one poll looks at, at most. */
export const SWEEP_PAGES = 16;

/** KEYS the queues. Replies one character per key: '1' if it holds an item. */
const QUEUES_WITH_ITEMS = new Script(`#!lua flags=no-writes
local out = {}
for i = 1, #KEYS do out[i] = redis.call('EXISTS', KEYS[i]) == 1 and '1' or '0' end
return table.concat(out)
`);

/**
 * KEYS the locks; ARGV[1] and ARGV[2] what comes before and after a daemon id in its lease key.
 * Replies one character per key: '1' if nobody holds it, or its holder's daemon has no lease (an acquire takes it over).
 */
const LOCKS_FREE = new Script(`#!lua flags=no-writes
local out = {}
for i = 1, #KEYS do
  local d = redis.call('HGET', KEYS[i], 'daemon')
  out[i] = (not d or redis.call('EXISTS', ARGV[1] .. d .. ARGV[2]) == 0) and '1' or '0'
end
return table.concat(out)
`);

/** Which of these keys' queues hold an item ('1' per such key). */
export function queuesWithItems(redis: Redis, keys: string[]): Promise<unknown> {
  return QUEUES_WITH_ITEMS.run(redis, keys, []);
}

/** Which of these locks an acquire would get now ('1' per such key). */
export function locksFree(redis: Redis, keys: string[], leasePre: string, leasePost: string): Promise<unknown> {
  return LOCKS_FREE.run(redis, keys, [leasePre, leasePost]);
}

/** One kind's sweep of its parked names. */
export class PollSweep {
  /** `ready` answers a page of names with one character each ('1': worth a wake); `wake` serves a name. */
  readonly #ready: (names: string[]) => Promise<unknown>;
  readonly #wake: (name: string) => void;
  /** Where the next poll starts in the list of parked names. */
  #next = 0;
  #running = false;

  constructor(ready: (names: string[]) => Promise<unknown>, wake: (name: string) => void) {
    this.#ready = ready;
    this.#wake = wake;
  }

  /** Looks at (some of) `names`; nothing if the last poll's look is still going. */
  run(names: string[]): void {
    if (this.#running || names.length === 0) return;
    this.#running = true;
    this.#sweep(names)
      .catch(() => {}) // Redis unreachable: the next poll looks again
      .finally(() => (this.#running = false));
  }

  async #sweep(names: string[]): Promise<void> {
    if (this.#next >= names.length) this.#next = 0;
    const end = Math.min(names.length, this.#next + SWEEP_PAGES * SWEEP_PAGE);
    while (this.#next < end) {
      const page = names.slice(this.#next, Math.min(end, this.#next + SWEEP_PAGE));
      const flags = String(await this.#ready(page));
      this.#next += page.length;
      page.forEach((name, i) => {
        if (flags[i] === '1') this.#wake(name);
      });
    }
  }
}
