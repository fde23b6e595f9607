/**
 * orphan-sweep.ts - puts back in their queues the items a dead daemon's owners
 * had taken and kept as replies, unacknowledged. Each daemon lists those items
 * in `held:<id>` (queue-scripts.ts); the reaper renames a dead member's list to
 * `orphan:<id>` and stamps it in `orphans` (membership-scripts.ts). Kept, such an item
 * stayed in `rep:<instance>` until its ten minutes ran out and then was gone:
 * a host that died with its daemon and its consumer lost what the consumer had
 * taken. It waits the reconnect window first, as a cut consumer's item does, so a
 * consumer that moved to another daemon and resent its get keeps it (the resend
 * moved it: `h:<rid>` names the other daemon, and the sweep leaves it).
 *
 * Each daemon also trims its own list, a page a poll (TRIM): a line stays only while
 * its kept reply does and names this daemon. An acknowledged item's line goes with
 * the acknowledgement, but a client that never acknowledges (a raw one) lets its
 * kept replies lapse after their ten minutes, and their lines stayed for the life
 * of the daemon.
 */
import type { StateRedis } from './state-redis.js';

/** Lists and items one sweep handles at most (a few ms of Redis). */
const LISTS = 10;
const ITEMS = 500;

/**
 * KEYS `orphans`, `chg`, `stat`; ARGV prefix, the wait (ms), chg's MAXLEN, items at most.
 * Puts back the items of the lists whose wait is over, if still held by the dead daemon;
 * drops a list once it is empty. Answers how many items went back.
 */
const SWEEP = `
local orphans, chg, stat = KEYS[1], KEYS[2], KEYS[3]
local prefix, wait, maxlen, budget = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local back = 0
for _, d in ipairs(redis.call('ZRANGEBYSCORE', orphans, '-inf', now - wait, 'LIMIT', 0, ${LISTS})) do
  local list, mine = prefix .. 'orphan:' .. d, d .. '/'
  local scan = redis.call('HSCAN', list, '0', 'COUNT', budget)[2]
  for i = 1, #scan, 2 do
    local rid, rep = string.match(scan[i], '^(.-)\\n(.*)$')
    local name = scan[i + 1]
    if rid then
      local h = redis.call('HGET', rep, 'h:' .. rid)
      if h and string.sub(h, 1, #mine) == mine then
        local item = redis.call('HGET', rep, rid)
        redis.call('HDEL', rep, rid, 'h:' .. rid)
        if item then
          if redis.call('LPUSH', prefix .. 'q:' .. name, item) == 1 then redis.call('HINCRBY', stat, 'q', 1) end
          redis.call('XADD', chg, 'MAXLEN', '~', maxlen, '*', 'k', 'q', 'n', name)
          back = back + 1
        end
      end
    end
    redis.call('HDEL', list, scan[i])
    budget = budget - 1
  end
  if redis.call('EXISTS', list) == 0 then redis.call('ZREM', orphans, d) end
  if budget <= 0 then break end
end
return back
`;

/**
 * KEYS this daemon's `held:<id>`; ARGV the HSCAN cursor, lines at most, this daemon's owner
 * prefix (`<id>/`). Drops the lines whose kept reply lapsed, was acknowledged or went to
 * another daemon's owner; answers the next cursor.
 */
export const TRIM = `
local held, prefix = KEYS[1], ARGV[3]
local page = redis.call('HSCAN', held, ARGV[1], 'COUNT', tonumber(ARGV[2]))
local lines = page[2]
for i = 1, #lines, 2 do
  local rid, rep = string.match(lines[i], '^(.-)\\n(.*)$')
  local h = rid and redis.call('HGET', rep, 'h:' .. rid)
  if not h or string.sub(h, 1, #prefix) ~= prefix then redis.call('HDEL', held, lines[i]) end
end
return page[1]
`;

/** Sweeps the dead daemons' held items back into their queues, and trims this daemon's own list, a script each a call. */
export class OrphanSweep {
  readonly #r: StateRedis;
  readonly #waitMs: number;
  readonly #streamLength: number;
  #running = false;
  /** Where the trim of this daemon's own list goes on (HSCAN's cursor). */
  #cursor = '0';

  constructor(r: StateRedis, waitMs: number, streamLength: number) {
    this.#r = r;
    this.#waitMs = waitMs;
    this.#streamLength = streamLength;
  }

  /** One sweep, unless one is in flight; any daemon may run it (each step checks the holder). */
  run(): void {
    if (this.#running) return;
    this.#running = true;
    const k = this.#r.keys;
    const p = this.#r.node.redis
      .eval(SWEEP, 3, k.orphans, k.chg, k.stat, this.#r.node.prefix, this.#waitMs, this.#streamLength, ITEMS)
      .then(() => this.#r.node.redis.eval(TRIM, 1, k.held(this.#r.node.id), this.#cursor, ITEMS, this.#r.holder('')))
      .then((next) => (this.#cursor = String(next)))
      .catch(() => {})
      .finally(() => (this.#running = false));
    this.#r.track(p);
  }
}
