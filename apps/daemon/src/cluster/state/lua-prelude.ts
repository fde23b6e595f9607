/**
 * lua-prelude.ts - the Lua every state script starts with: its fixed keys and
 * arguments, the fence on this daemon's own lease, the kept-reply lookup and
 * write (exactly-once), and the change record every committed write appends
 * to the `chg` stream (what the change feed pushes from).
 *
 * KEYS[1] this daemon's lease key, KEYS[2] `chg`, KEYS[3] `rep:<instance>`
 * (unused without a request id), KEYS[4] `stat` (approximate counts for
 * `daemon status`), then the operation's keys from KEYS[5].
 * ARGV[1] the request id ('' for none), ARGV[2] the stream's MAXLEN (~),
 * ARGV[3] the kept replies' time to live in ms, ARGV[4] the largest value a
 * change record carries inline, ARGV[5] '0' when Redis is near its maxmemory
 * (state-room.ts: a write that would grow the state is refused, `grows`),
 * then the operation's arguments from ARGV[6].
 *
 * A script answers with a table whose first element says what it is:
 * {'ok', reply} (the reply as kept), {'rep', reply} (a resend answered from
 * the kept reply, nothing applied), {'err', code, message}, or a word the
 * operation's caller knows ('empty', 'held', 'cmp', 'again').
 */
export const PRELUDE = String.raw`
local LEASE, CHG, REP, STAT = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local RID, MAXLEN, REPTTL, INLINE = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local FULL = ARGV[5] == '0'
local function fmt(n) return string.format('%.0f', n) end
local function fail(code, msg) return {'err', code, msg} end
local function leased() return redis.call('EXISTS', LEASE) == 1 end
local UNLEASED = {'err', 'E_UNAVAILABLE', 'this daemon no longer holds its cluster lease'}
local function kept()
  if RID == '' then return nil end
  return redis.call('HGET', REP, RID)
end
local function keep(reply)
  if RID ~= '' then
    redis.call('HSET', REP, RID, reply)
    redis.call('PEXPIRE', REP, REPTTL)
  end
  return {'ok', reply}
end
local function change(...)
  redis.call('XADD', CHG, 'MAXLEN', '~', MAXLEN, '*', ...)
end
local function count(field, d) redis.call('HINCRBY', STAT, field, d) end
local NO_ROOM = {'err', 'E_LIMIT', "the cluster's Redis is near its maxmemory: writes that grow the shared state are refused until something is deleted (nothing changed; adds, gets, deletes and writes no larger go on)"}
-- True when the state is full and a write of new bytes over old ones (nil: a new name or key) would grow it.
local function grows(old, new) return FULL and (not old or new > old) end
-- The length of a hash field, nil when it is not there (called only when FULL).
local function hlen(key, field)
  if redis.call('HEXISTS', key, field) == 0 then return nil end
  return redis.call('HSTRLEN', key, field)
end
`;
