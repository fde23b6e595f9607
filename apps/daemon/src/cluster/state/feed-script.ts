/**
 * feed-script.ts - the change feed's read: the entries of `chg` after the
 * reader's last id and what proves it missed none, read at one instant.
 *
 * KEYS[1] `chg`, KEYS[2] `chg:epoch`; ARGV[1] the last id read, ARGV[2] how
 * many entries at most, ARGV[3] an epoch to set if there is none. Replies
 * {epoch, max-deleted-entry-id, entries-added, last-generated-id, entries}.
 * The epoch is a random marker written once: a different one means Redis lost
 * its data (restarted empty) since the reader last looked. An entry after the
 * reader's last id that was trimmed shows as a max-deleted-entry-id above it;
 * entries-added going backwards means Redis lost writes (a failover to a
 * replica behind, an older AOF).
 */
export const FEED_READ = String.raw`
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[2], epoch)
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {epoch, '0-0', 0, '0-0', {}} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local maxdel, added, last = '0-0', 0, '0-0'
for i = 1, #info, 2 do
  local f = info[i]
  if f == 'max-deleted-entry-id' then maxdel = info[i + 1]
  elseif f == 'entries-added' then added = info[i + 1]
  elseif f == 'last-generated-id' then last = info[i + 1] end
end
return {epoch, maxdel, added, last, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}
`;
