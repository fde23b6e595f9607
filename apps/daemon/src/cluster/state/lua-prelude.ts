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
 * change record carries inline, then the operation's arguments from ARGV[5].
 *
 * A script answers with a table whose first element says what it is:
 * {'ok', reply} (the reply as kept), {'rep', reply} (a resend answered from
 * the kept reply, nothing applied), {'err', code, message}, or a word the
 * operation's caller knows ('empty', 'held', 'cmp', 'again').
 */
export const PRELUDE = String.raw`
local LEASE, CHG, REP, STAT = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local RID, MAXLEN, REPTTL, INLINE = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
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
`;
