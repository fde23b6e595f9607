/**
 * queue-scripts.ts - the Lua of Queue's writes. KEYS[5] is `q:<name>`, a LIST
 * (RPUSH to put, LPOP to get, LPUSH to put an undelivered item back in front).
 * A put appends { k=q, n } to `chg`, which wakes the gets parked on that
 * queue in every daemon. A get that took an item under a request id keeps it
 * as its reply, with `h:<rid>` naming the owner (`<daemon id>/<owner>`) that
 * holds it now: a resend answered from it moves it to the resender, and a put
 * back happens only for the holder, so an item is handed out once even when
 * a client fails over between two daemons.
 */
import { PRELUDE } from './lua-prelude.js';

const WOKEN = String.raw`
local function woken(n, name)
  if n == 1 then count('q', 1) end
  change('k', 'q', 'n', name)
end
`;

/** ARGV[6] item, ARGV[7] name. Replies 'size' (after the put). */
export const QUEUE_PUT =
  PRELUDE +
  WOKEN +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then return {'rep', r} end
if FULL then return NO_ROOM end
local n = redis.call('RPUSH', KEYS[5], ARGV[6])
woken(n, ARGV[7])
return keep(fmt(n))
`;

/**
 * Deletes the queue's items; replies '1', or '0' when it held none (Redis keeps no empty
 * list). Gets parked on it go on waiting for a put: nothing to record in `chg`.
 */
export const QUEUE_REMOVE =
  PRELUDE +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then return {'rep', r} end
if redis.call('UNLINK', KEYS[5]) == 0 then return keep('0') end
count('q', -1)
return keep('1')
`;

/**
 * ARGV[6] the getter (`<daemon id>/<owner>`), ARGV[7] the queue's name; KEYS[6] this daemon's
 * `held:<id>`. Replies the item, or {'empty'}. A kept item is listed in `held:<id>` (field
 * `<rid>\n<rep key>`, the queue's name), so it can go back to its queue if this daemon dies
 * (orphan-sweep.ts); a resend answered from it lists it under the resender's daemon too.
 */
export const QUEUE_GET =
  PRELUDE +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then
  redis.call('HSET', REP, 'h:' .. RID, ARGV[6])
  redis.call('HSET', KEYS[6], RID .. '\n' .. REP, ARGV[7])
  return {'rep', r}
end
local item = redis.call('LPOP', KEYS[5])
if not item then return {'empty'} end
if redis.call('LLEN', KEYS[5]) == 0 then count('q', -1) end
if RID ~= '' then
  redis.call('HSET', REP, RID, item, 'h:' .. RID, ARGV[6])
  redis.call('PEXPIRE', REP, REPTTL)
  redis.call('HSET', KEYS[6], RID .. '\n' .. REP, ARGV[7])
end
return {'ok', item}
`;

/**
 * ARGV[6] item, ARGV[7] name, ARGV[8] this daemon's owner prefix (`<daemon id>/`); KEYS[6]
 * this daemon's `held:<id>`. With
 * a request id, only if an owner of this daemon still holds it (no resend was answered
 * from it by another daemon), and its kept reply goes. Not fenced by the lease: giving
 * an item back is always safe.
 */
export const QUEUE_PUT_BACK =
  PRELUDE +
  WOKEN +
  String.raw`
if RID ~= '' then
  redis.call('HDEL', KEYS[6], RID .. '\n' .. REP)
  local h = redis.call('HGET', REP, 'h:' .. RID)
  if not h or string.sub(h, 1, #ARGV[8]) ~= ARGV[8] then return {'ok', '0'} end
  redis.call('HDEL', REP, RID, 'h:' .. RID)
end
woken(redis.call('LPUSH', KEYS[5], ARGV[6]), ARGV[7])
return {'ok', '1'}
`;

/**
 * ARGV[6] this daemon's owner prefix (`<daemon id>/`), ARGV[7..] request ids of one
 * instance (RID is not read); KEYS[5] this daemon's `held:<id>`. Deletes each kept reply,
 * unless another daemon holds its item now, and its line in `held:`; answers how many went. One script for many: a client acknowledges its
 * replies together (100,000 at once after a burst), and a script each took the
 * primary's turn for seconds.
 */
export const DROP_REPLIES =
  PRELUDE +
  String.raw`
local prefix, n = ARGV[6], 0
for i = 7, #ARGV do
  local rid = ARGV[i]
  local h = redis.call('HGET', REP, 'h:' .. rid)
  if h then redis.call('HDEL', KEYS[5], rid .. '\n' .. REP) end
  if not h or string.sub(h, 1, #prefix) == prefix then
    redis.call('HDEL', REP, rid, 'h:' .. rid)
    n = n + 1
  end
end
return {'ok', tostring(n)}
`;
