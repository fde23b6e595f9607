/**
 * membership-scripts.ts - the Lua scripts of a daemon's membership (membership.ts):
 * the lease's renewal with the reaper's pass, a graceful leave, and a new
 * incarnation's take-over of its old id's apps and held queue items. Each runs
 * alone on Redis, so a member's lease, its heartbeat and what the reaper
 * removes of a dead member change together.
 */

/**
 * What a member that is gone leaves behind per app and per chunk, removed by the
 * reaper (dead) or by the member itself (a graceful leave): `forget(prefix, m)`.
 * Only a member forgets its own apps in `share` (share-ledger.ts), so a dead one's
 * stayed there for good, one per connection it had; it lists them in `apps:<m>`.
 * Its apps leave `share`; their `want` entries, and their turn stamps, go if the
 * entry is still m's (the lenders' `lend` drops them too, but only while a lender
 * has a worker idle); the grants it lent (`slot:<m>:<n>`, listed in `lent:<m>`) go,
 * as an owner deletes one when it sees m's lease gone but an owner dead too never does
 * (each stayed in Redis for good); the attempt numbers of its chunks lent out (`att`, fields
 * `<m>:<key>`) go, as no owner will end them now (a lender's report for one drops
 * its field, but only if a report comes). `att` holds only chunks in flight, so the
 * pass over its fields is short, and it runs once per member that goes. The queue items its
 * consumers took and never acknowledged (`held:<m>`) become `orphan:<m>`, stamped in
 * `orphans`: they go back to their queues after the reconnect window (orphan-sweep.ts).
 * Keys are built from the prefix, so they stay in the cluster's hash slot.
 */
const FORGET = `
local function forget(prefix, m)
  local set = prefix .. 'apps:' .. m
  local apps = redis.call('SMEMBERS', set)
  local share, want, wstamp = prefix .. 'share', prefix .. 'want', prefix .. 'wstamp'
  for i = 1, #apps, 500 do
    redis.call('ZREM', share, unpack(apps, i, math.min(i + 499, #apps)))
  end
  for _, app in ipairs(apps) do
    local w = redis.call('HGET', want, app)
    if w and string.match(w, '^(.*):%d+$') == m then
      redis.call('HDEL', want, app)
      redis.call('HDEL', wstamp, app)
    end
  end
  redis.call('DEL', set)
  -- the grants m lent: their owners delete them when they see m's lease gone, but an owner dead too never will
  local lent = prefix .. 'lent:' .. m
  for _, n in ipairs(redis.call('SMEMBERS', lent)) do redis.call('DEL', prefix .. 'slot:' .. m .. ':' .. n) end
  redis.call('DEL', lent)
  local att, mine = prefix .. 'att', m .. ':'
  for _, f in ipairs(redis.call('HKEYS', att)) do
    if string.sub(f, 1, #mine) == mine then redis.call('HDEL', att, f) end
  end
  -- the queue items m's consumers took and never acknowledged: back to their queues after the reconnect window (orphan-sweep.ts)
  local held = prefix .. 'held:' .. m
  if redis.call('EXISTS', held) == 1 then
    redis.call('RENAME', held, prefix .. 'orphan:' .. m)
    local t = redis.call('TIME')
    redis.call('ZADD', prefix .. 'orphans', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), m)
  end
end
`;

/**
 * Renews this member's lease if it still holds it: KEYS lease, members, dm, reaper;
 * ARGV id, leaseMs, recordTtlMs, then the info as field/value pairs. Returns 1, or 0
 * when the lease is gone (the incarnation is over). Also reaps, when this member holds
 * the reaper role: members without a lease leave `members` (their inbox and status
 * record go with them: nothing reads them any more), their apps leave `share` (FORGET
 * above), and `ctl` hears of it.
 * allow-oom: a Redis out of memory refuses state writes (E_NO_SPACE), but must not
 * end every lease with them: renewals grow nothing (the heartbeat rewrites its fields).
 */
export const RENEW = `#!lua flags=allow-oom
${FORGET}
local lease, members, dm, reaper = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, leaseMs, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('GET', lease) ~= id then return 0 end
redis.call('PEXPIRE', lease, leaseMs)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', members, now, id)
if #ARGV > 3 then redis.call('HSET', dm, unpack(ARGV, 4)) end
redis.call('PEXPIRE', dm, ttl)
local r = redis.call('GET', reaper)
if r == false then redis.call('SET', reaper, id, 'PX', leaseMs) r = id end
if r == id then
  redis.call('PEXPIRE', reaper, leaseMs)
  local prefix = string.sub(lease, 1, #lease - #id - 6)
  for _, m in ipairs(redis.call('ZRANGE', members, 0, -1)) do
    if redis.call('EXISTS', prefix .. 'lease:' .. m) == 0 then
      redis.call('ZREM', members, m)
      redis.call('DEL', prefix .. 'inbox:' .. m, prefix .. 'dm:' .. m)
      forget(prefix, m)
      redis.call('XADD', prefix .. 'ctl', 'MAXLEN', '~', 1000, '*', 'event', 'dead', 'id', m)
    end
  end
end
return 1
`;

/** A graceful leave's own share of FORGET: ARGV prefix, id (KEYS: the member's apps set, for Redis Cluster's routing). */
export const LEAVE = `${FORGET}
forget(ARGV[1], ARGV[2])
return 1
`;

/**
 * A new incarnation takes over the old one's apps (the same clients, the same realms):
 * KEYS apps(old), apps(new). Otherwise the reaper, reaping the old id, would remove
 * apps that are still live from `share`. If the reaper came first (the old lease
 * lapsed a while before this daemon could tell), their entries are gone already:
 * they come back as apps back from idle do. KEYS[3..6] `held:<old>`, `orphan:<old>`,
 * `orphans`, `held:<new>`, ARGV[1] the old id, ARGV[2] the new one: the queue items its
 * consumers hold stay with this daemon's replay table, which answers their resends from
 * memory, so they are not put back by orphan-sweep.ts as a dead daemon's are; they move to
 * the new id's list, and their holder (`h:<rid>`, `<old>/<owner>`) becomes the new id's
 * owner, as the connections now are. Dropped instead, they were listed nowhere: lost if this
 * daemon died before their consumers acknowledged them (and a consumer closing its
 * connection could not put its item back, its holder named the old id). One pass over the
 * lines, at a rejoin only; lines whose item went elsewhere or was acknowledged are dropped.
 */
export const ADOPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[1])
  redis.call('DEL', KEYS[1])
end
local old, new = ARGV[1] .. '/', ARGV[2] .. '/'
for _, list in ipairs({KEYS[3], KEYS[4]}) do
  local lines = redis.call('HGETALL', list)
  for i = 1, #lines, 2 do
    local rid, rep = string.match(lines[i], '^(.-)\\n(.*)$')
    local h = rid and redis.call('HGET', rep, 'h:' .. rid)
    if h and string.sub(h, 1, #old) == old then
      redis.call('HSET', rep, 'h:' .. rid, new .. string.sub(h, #old + 1))
      redis.call('HSET', KEYS[6], lines[i], lines[i + 1])
    end
  end
end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('ZREM', KEYS[5], ARGV[1])
return 1
`;
