/**
 * lock-scripts.ts - the Lua of Lock. KEYS[5] `lock:<name>` is a HASH
 * { owner, daemon, token } while held: the holder (`<daemon id>/<owner>`),
 * the daemon incarnation it belongs to, and its fencing token from KEYS[6]
 * `fence`, a counter that only grows and never expires. A `fence` that is
 * missing (a new cluster, or Redis lost its data) starts above Redis's TIME
 * in microseconds and above every token this daemon has seen, so a token is
 * never given twice, even across a Redis that came back empty. A lock whose daemon's
 * lease key is gone belongs to nobody: the next acquire takes it over. A
 * release appends { k=l, n } to `chg`, which wakes the acquires parked on it.
 */
import { PRELUDE } from './lua-prelude.js';

/**
 * ARGV[6] owner, ARGV[7] this daemon's id, ARGV[8] and ARGV[9] what comes before and
 * after a daemon id in its lease key, ARGV[10] the highest token this daemon has seen.
 * Replies the token, or {'held'}; E_LIMIT for a lock nobody holds while the state is full
 * (state-room.ts).
 */
export const LOCK_ACQUIRE =
  PRELUDE +
  String.raw`
if not leased() then return UNLEASED end
local h = redis.call('HMGET', KEYS[5], 'owner', 'daemon')
if h[1] then
  if redis.call('EXISTS', ARGV[8] .. h[2] .. ARGV[9]) == 1 then return {'held'} end
else
  -- A lock nobody holds is a new key: 8,107 of them from one app filled a 32 MB Redis past the state's bound.
  if FULL then return NO_ROOM end
  count('l', 1)
end
local token
if redis.call('EXISTS', KEYS[6]) == 0 then
  local t = redis.call('TIME')
  token = math.max(tonumber(t[1]) * 1000000 + tonumber(t[2]), tonumber(ARGV[10]) + 1)
  redis.call('SET', KEYS[6], fmt(token))
else
  token = redis.call('INCR', KEYS[6])
end
redis.call('HSET', KEYS[5], 'owner', ARGV[6], 'daemon', ARGV[7], 'token', token)
return {'ok', token}
`;

/**
 * ARGV[6] owner, ARGV[7] token, ARGV[8] name. Replies '1', or E_LOCK_NOT_HELD. Not
 * fenced by the lease: a release only ever gives up what the owner holds.
 */
export const LOCK_RELEASE =
  PRELUDE +
  String.raw`
local r = kept()
if r then return {'rep', r} end
local name = ARGV[8]
local h = redis.call('HMGET', KEYS[5], 'owner', 'token')
if not h[1] then return fail('E_LOCK_NOT_HELD', 'lock "' .. name .. '" is not held') end
if h[1] ~= ARGV[6] or h[2] ~= ARGV[7] then
  return fail('E_LOCK_NOT_HELD', 'lock "' .. name .. '" is not held with token ' .. ARGV[7] .. ' by this requester')
end
redis.call('DEL', KEYS[5])
count('l', -1)
change('k', 'l', 'n', name)
return keep('1')
`;
