/**
 * value-scripts.ts - the Lua of Value's writes. KEYS[5] is `v:<name>`, a
 * HASH { ver, val }: the version (1 at creation, +1 per change, never reset)
 * and the value's data-encoded bytes as the client sent them (or as add wrote
 * the sum); deleting the value deletes the key (versions start over). Every change appends { k=v, n, ver, val } to `chg` (`big=<size>`
 * instead of `val` past the inline size: the feed reads the value itself, and
 * the size bounds how many it reads at once).
 */
import { NUMBERS } from './lua-numbers.js';
import { PRELUDE } from './lua-prelude.js';

/** The largest sum an add's kept reply holds (a float64 is 9 bytes, a 480-bit bigint about 64). */
export const ADD_KEPT_SUM = 64;

const CHANGED = String.raw`
local function changed(name, ver, bytes)
  if #bytes <= INLINE then change('k', 'v', 'n', name, 'ver', fmt(ver), 'val', bytes)
  else change('k', 'v', 'n', name, 'ver', fmt(ver), 'big', fmt(#bytes)) end
end
local function write(bytes, name)
  local ver = redis.call('HINCRBY', KEYS[5], 'ver', 1)
  if ver == 1 then count('v', 1) end
  redis.call('HSET', KEYS[5], 'val', bytes)
  changed(name, ver, bytes)
  return ver
end
`;

/** ARGV[6] bytes, ARGV[7] name. Creates the value if absent; replies 'version:bytes' (the value as it is). Not kept: init is resent, not replayed. */
export const VALUE_INIT =
  PRELUDE +
  CHANGED +
  String.raw`
if not leased() then return UNLEASED end
local cur = redis.call('HMGET', KEYS[5], 'ver', 'val')
if cur[1] then return {'ok', cur[1] .. ':' .. cur[2]} end
if FULL then return NO_ROOM end
local ver = write(ARGV[6], ARGV[7])
return {'ok', fmt(ver) .. ':' .. ARGV[6]}
`;

/** ARGV[6] bytes, ARGV[7] name. Replies 'version'. */
export const VALUE_SET =
  PRELUDE +
  CHANGED +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then return {'rep', r} end
if FULL and grows(hlen(KEYS[5], 'val'), #ARGV[6]) then return NO_ROOM end
return keep(fmt(write(ARGV[6], ARGV[7])))
`;

/**
 * ARGV[6] the delta (a number or a bigint, canonically encoded), ARGV[7] name. Replies
 * 'version:bytes' (the sum). The kept reply holds the sum only up to ADD_KEPT_SUM bytes;
 * past it, the version alone: a delta of a few bytes on a 64 KiB bigint kept 64 KiB for
 * ten minutes, so an app that never acknowledged filled Redis for every app (and took
 * leases with it). A resend of such an add is answered from the value while it is still
 * at that version, and is E_REPLY_DROPPED after (applied once; its sum is gone).
 */
export const VALUE_ADD =
  PRELUDE +
  NUMBERS +
  CHANGED +
  `local ADD_KEPT_SUM = ${ADD_KEPT_SUM}\n` +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then
  if string.find(r, ':', 1, true) then return {'rep', r} end
  local cur = redis.call('HMGET', KEYS[5], 'ver', 'val')
  if cur[1] == r then return {'rep', r .. ':' .. cur[2]} end
  return fail('E_REPLY_DROPPED', 'this add was applied once; its sum was too large to keep and the value has changed since')
end
local name, delta = ARGV[7], ARGV[6]
local cur = redis.call('HGET', KEYS[5], 'val')
-- A sum grows by a byte now and then: only a new name is refused when full.
if FULL and not cur then return NO_ROOM end
local sum = delta
if cur then
  local ck, cv = num(cur)
  local dk, dv = num(delta)
  if ck == nil then return fail('E_TYPE', 'value "' .. name .. '" is not a number: add needs a number or a bigint') end
  if dk == nil then return fail('E_TYPE', 'add needs a number or a bigint delta') end
  if ck ~= dk then
    return fail('E_TYPE', 'value "' .. name .. '" is a ' .. KIND[ck] .. ' and the delta a ' .. KIND[dk] .. ': add needs both of one type')
  end
  if ck == 'n' then sum = encnum(cv + dv) else sum = encbig(badd(cv, dv)) end
end
local ver = write(sum, name)
if #sum > ADD_KEPT_SUM then
  keep(fmt(ver))
  return {'ok', fmt(ver) .. ':' .. sum}
end
return keep(fmt(ver) .. ':' .. sum)
`;

/**
 * ARGV[6] expected bytes, ARGV[7] next bytes, ARGV[8] name, ARGV[9] '1' when the
 * daemon may compare structurally. Replies 'ok:version' ('1:' set, '0:' not), or
 * {'cmp', version, bytes} when the bytes differ and the daemon is to compare the values.
 */
export const VALUE_CAS =
  PRELUDE +
  CHANGED +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then return {'rep', r} end
local cur = redis.call('HMGET', KEYS[5], 'ver', 'val')
if not cur[1] then return keep('0:0') end
if cur[2] == ARGV[6] then
  if grows(#cur[2], #ARGV[7]) then return NO_ROOM end
  return keep('1:' .. fmt(write(ARGV[7], ARGV[8])))
end
if ARGV[9] == '1' then return {'cmp', cur[1], cur[2]} end
return keep('0:' .. cur[1])
`;

/** ARGV[6] the version the daemon found equal, ARGV[7] next bytes, ARGV[8] name. Sets if the version is unchanged, else {'again'}. */
export const VALUE_CAS_AT =
  PRELUDE +
  CHANGED +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then return {'rep', r} end
if redis.call('HGET', KEYS[5], 'ver') ~= ARGV[6] then return {'again'} end
if FULL and grows(hlen(KEYS[5], 'val'), #ARGV[7]) then return NO_ROOM end
return keep('1:' .. fmt(write(ARGV[7], ARGV[8])))
`;

/**
 * ARGV[6] name. Deletes the value; replies '1', or '0' when it did not exist. Records
 * { k=v, n, ver, del=1 } (ver one past the last), so subscribers hear it; a value made again
 * starts over at version 1.
 */
export const VALUE_REMOVE =
  PRELUDE +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then return {'rep', r} end
local ver = redis.call('HGET', KEYS[5], 'ver')
if not ver then return keep('0') end
redis.call('UNLINK', KEYS[5])
count('v', -1)
change('k', 'v', 'n', ARGV[6], 'ver', fmt(tonumber(ver) + 1), 'del', '1')
return keep('1')
`;

/** ARGV[6] a reply the daemon decided (a compareAndSet that found the values unequal): kept as is, unless one is kept already. */
export const KEEP_REPLY =
  PRELUDE +
  String.raw`
local r = kept()
if r then return {'rep', r} end
return keep(ARGV[6])
`;
