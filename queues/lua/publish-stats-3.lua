--[[
  Publishes the leading dispatcher's stats, fenced like every dispatcher write: a dispatcher whose
  epoch is older than the log's cannot overwrite the backlog counts admission control reads.

  KEYS[1] partition 0's fencing epoch     ts:{p0}:epoch
  KEYS[2] the backlog per queue (hash)     ts:{p0}:backlog
  KEYS[3] the stats (JSON, expiring)       ts:{p0}:dispatcher-stats
  ARGV[1] the dispatcher's epoch
  ARGV[2] the stats JSON
  ARGV[3] how long the stats stand, in ms
  ARGV[4..] queue, count, queue, count, …

  Returns {STALE_EPOCH, highest epoch} when fenced off, else {OK, 0}
  (event-store/reply-codes.ts).
]]
local highest = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) < highest then return {STALE_EPOCH, tostring(highest)} end
redis.call('DEL', KEYS[2])
if #ARGV > 3 then redis.call('HSET', KEYS[2], unpack(ARGV, 4)) end
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
return {OK, 0}
