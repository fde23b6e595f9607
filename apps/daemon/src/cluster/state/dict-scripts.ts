/**
 * dict-scripts.ts - the Lua of Dict. KEYS[5] `dict:<name>` is a HASH of the
 * entries, KEYS[6] `dord:<name>` a ZSET of the keys scored by insertion
 * sequence (Redis hashes keep no order), KEYS[7] `dver:<name>` a HASH
 * { ver, seq }: the dict's version (+1 per set and per delete that removed
 * something, reset only when the whole dict is deleted) and the last sequence number. Every change appends
 * { k=d, n, ver, key, val | big=1 | del=1 } to `chg`.
 */
import { PRELUDE } from './lua-prelude.js';

/** ARGV[5] key, ARGV[6] bytes, ARGV[7] name. Replies 'version'. */
export const DICT_SET =
  PRELUDE +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then return {'rep', r} end
local key, bytes, name = ARGV[5], ARGV[6], ARGV[7]
if redis.call('HSET', KEYS[5], key, bytes) == 1 then
  redis.call('ZADD', KEYS[6], redis.call('HINCRBY', KEYS[7], 'seq', 1), key)
  if redis.call('HLEN', KEYS[5]) == 1 then count('d', 1) end
end
local ver = redis.call('HINCRBY', KEYS[7], 'ver', 1)
if #bytes <= INLINE then change('k', 'd', 'n', name, 'ver', fmt(ver), 'key', key, 'val', bytes)
else change('k', 'd', 'n', name, 'ver', fmt(ver), 'key', key, 'big', '1') end
return keep(fmt(ver))
`;

/** ARGV[5] key, ARGV[6] name. Replies '1' (deleted) or '0' (it was not there: nothing changes). */
export const DICT_DELETE =
  PRELUDE +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then return {'rep', r} end
local key, name = ARGV[5], ARGV[6]
if redis.call('HDEL', KEYS[5], key) == 0 then return keep('0') end
redis.call('ZREM', KEYS[6], key)
if redis.call('HLEN', KEYS[5]) == 0 then count('d', -1) end
local ver = redis.call('HINCRBY', KEYS[7], 'ver', 1)
change('k', 'd', 'n', name, 'ver', fmt(ver), 'key', key, 'del', '1')
return keep('1')
`;

/**
 * ARGV[5] name. Deletes the whole dict (entries, order and version); replies '1', or '0'
 * when it held no keys. A dict with a version records { k=d, n, ver, del=1 } without a key
 * (ver one past the last): its subscribers hear it, and a dict made again starts at 1.
 */
export const DICT_REMOVE =
  PRELUDE +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then return {'rep', r} end
local ver = redis.call('HGET', KEYS[7], 'ver')
local had = redis.call('UNLINK', KEYS[5]) == 1
redis.call('UNLINK', KEYS[6], KEYS[7])
if had then count('d', -1) end
if ver then change('k', 'd', 'n', ARGV[5], 'ver', fmt(tonumber(ver) + 1), 'del', '1') end
if had then return keep('1') end
return keep('0')
`;

/** Replies {'ok', key1, bytes1, key2, bytes2, ...} in insertion order, read at one instant. */
export const DICT_ENTRIES =
  PRELUDE +
  String.raw`
local keys = redis.call('ZRANGE', KEYS[6], 0, -1)
local out = {'ok'}
for i = 1, #keys, 1000 do
  local vals = redis.call('HMGET', KEYS[5], unpack(keys, i, math.min(i + 999, #keys)))
  for j = 1, #vals do
    if vals[j] then
      out[#out + 1] = keys[i + j - 1]
      out[#out + 1] = vals[j]
    end
  end
end
return out
`;
