/**
 * dict-scripts.ts - the Lua of Dict. KEYS[5] `dict:<name>` is a HASH of the
 * entries, KEYS[6] `dord:<name>` a ZSET of the keys scored by insertion
 * sequence (Redis hashes keep no order), KEYS[7] `dver:<name>` a HASH
 * { ver, seq, born }: the dict's version (+1 per set and per delete that removed
 * something, reset when the whole dict is deleted or its last key is), the last sequence number, and
 * when the dict was made (a number from `stat`'s `born`, which only grows: a dict deleted
 * and made again between two pages of a walk is told apart from the one the walk began).
 * Every change appends { k=d, n, ver, key, val | big=<size> | del=1 } to `chg` (the
 * feed reads a big value itself, as many at once as their sizes allow).
 *
 * A dict whose last key is deleted is forgotten whole, as the LMDB store forgets one (state/dict.ts):
 * kept, the `dver:` of every dict emptied key by key stayed in Redis for good, uncounted and unlisted,
 * so an app making dicts of ever-new names grew Redis without bound. Its subscribers, on any daemon,
 * get the key's delete and then a keyless delete one version on: versions start over (the next set
 * is version 1), and the SDK, which then has no key of it, reports nothing more. The LMDB store keeps
 * an emptied dict that has subscribers; a script cannot see the other daemons' subscribers.
 *
 * Reads of the whole dict go a page at a time (DICT_PAGE, dict-walks.ts): one script
 * over a 100,000-key dict held Redis for every daemon of the cluster.
 */
import { PRELUDE } from './lua-prelude.js';

/** ARGV[6] key, ARGV[7] bytes, ARGV[8] name. Replies 'version'. */
export const DICT_SET =
  PRELUDE +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then return {'rep', r} end
local key, bytes, name = ARGV[6], ARGV[7], ARGV[8]
if FULL and grows(hlen(KEYS[5], key), #bytes) then return NO_ROOM end
if redis.call('HSET', KEYS[5], key, bytes) == 1 then
  local seq = redis.call('HINCRBY', KEYS[7], 'seq', 1)
  if seq == 1 then redis.call('HSET', KEYS[7], 'born', redis.call('HINCRBY', STAT, 'born', 1)) end
  redis.call('ZADD', KEYS[6], seq, key)
  if redis.call('HLEN', KEYS[5]) == 1 then count('d', 1) end
end
local ver = redis.call('HINCRBY', KEYS[7], 'ver', 1)
if #bytes <= INLINE then change('k', 'd', 'n', name, 'ver', fmt(ver), 'key', key, 'val', bytes)
else change('k', 'd', 'n', name, 'ver', fmt(ver), 'key', key, 'big', fmt(#bytes)) end
return keep(fmt(ver))
`;

/** ARGV[6] key, ARGV[7] name. Replies '1' (deleted) or '0' (it was not there: nothing changes). */
export const DICT_DELETE =
  PRELUDE +
  String.raw`
if not leased() then return UNLEASED end
local r = kept()
if r then return {'rep', r} end
local key, name = ARGV[6], ARGV[7]
if redis.call('HDEL', KEYS[5], key) == 0 then return keep('0') end
redis.call('ZREM', KEYS[6], key)
local ver = redis.call('HINCRBY', KEYS[7], 'ver', 1)
change('k', 'd', 'n', name, 'ver', fmt(ver), 'key', key, 'del', '1')
if redis.call('HLEN', KEYS[5]) == 0 then
  count('d', -1)
  -- Emptied: forgotten as DICT_REMOVE forgets it, its subscribers told its versions start over.
  redis.call('UNLINK', KEYS[7])
  change('k', 'd', 'n', name, 'ver', fmt(ver + 1), 'del', '1')
end
return keep('1')
`;

/**
 * ARGV[6] name. Deletes the whole dict (entries, order and version); replies '1', or '0'
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
if ver then change('k', 'd', 'n', ARGV[6], 'ver', fmt(tonumber(ver) + 1), 'del', '1') end
if had then return keep('1') end
return keep('0')
`;

/**
 * One page of a walk over the dict in insertion order. ARGV[6] where the page starts
 * ('-inf', or '(' and the score of the walk's last key), ARGV[7] keys at most, ARGV[8]
 * bytes at most (keys, and values when ARGV[9] is '1'; a page holds one key at least).
 * Replies {'ok', stamp, last score, more ('1' or '0'), key1 [, bytes1], ...}. The stamp
 * changes whenever what the walk reads may have: the dict made again, a key added
 * (seq) or removed (the count), and when values are read, any set (ver).
 */
export const DICT_PAGE =
  PRELUDE +
  String.raw`
local limit, budget, vals = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9] == '1'
local m = redis.call('HMGET', KEYS[7], 'born', 'seq', 'ver')
-- A dict made before dicts were stamped: stamped now, so one made again in its place differs.
if not m[1] and m[2] then
  m[1] = redis.call('HINCRBY', STAT, 'born', 1)
  redis.call('HSET', KEYS[7], 'born', m[1])
end
local stamp = (m[1] or '0') .. ':' .. (m[2] or '0') .. ':' .. redis.call('ZCARD', KEYS[6])
if vals then stamp = stamp .. ':' .. (m[3] or '0') end
local got = redis.call('ZRANGEBYSCORE', KEYS[6], ARGV[6], '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
local out = {'ok', stamp, '', '0'}
local used, last = 0, nil
for i = 1, #got, 2 do
  local k = got[i]
  local n = #k
  if vals then n = n + redis.call('HSTRLEN', KEYS[5], k) end
  if last and used + n > budget then
    out[4] = '1'
    break
  end
  used = used + n
  out[#out + 1] = k
  if vals then out[#out + 1] = redis.call('HGET', KEYS[5], k) or '' end
  last = got[i + 1]
end
if #got == 2 * limit then out[4] = '1' end
out[3] = last or ''
return out
`;

/**
 * The whole dict at one instant, for a walk whose pages kept seeing it change. ARGV[6]
 * bytes at most, ARGV[7] '1' for values too, ARGV[8] keys at most. Replies {'ok', key1
 * [, bytes1], ...}; {'many'} when it holds more keys (it grew since the walk looked), or
 * {'big'} as soon as what it read is over the bytes (before reading a value that would be).
 */
export const DICT_ALL =
  PRELUDE +
  String.raw`
local budget, vals = tonumber(ARGV[6]), ARGV[7] == '1'
if redis.call('ZCARD', KEYS[6]) > tonumber(ARGV[8]) then return {'many'} end
local keys = redis.call('ZRANGE', KEYS[6], 0, -1)
local out = {'ok'}
local used = 0
for i = 1, #keys do
  local k = keys[i]
  used = used + #k
  if vals then used = used + redis.call('HSTRLEN', KEYS[5], k) end
  if used > budget then return {'big'} end
  out[#out + 1] = k
  if vals then out[#out + 1] = redis.call('HGET', KEYS[5], k) or '' end
end
return out
`;
