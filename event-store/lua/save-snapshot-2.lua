--[[
  Saves a leader's snapshot of a partition (its live state as of a log position), fenced like every
  dispatcher write: a deposed leader cannot replace the newer leader's snapshot.

  KEYS[1] the partition's fencing epoch   ts:{pN}:epoch
  KEYS[2] the partition's snapshot        ts:{pN}:snapshot
  ARGV[1] the leader's epoch
  ARGV[2] the snapshot

  Returns {STALE_EPOCH, highest epoch} when fenced off, else {OK, 0} (event-store/reply-codes.ts).
]]
local highest = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) < highest then return {STALE_EPOCH, tostring(highest)} end
redis.call('SET', KEYS[2], ARGV[2])
return {OK, 0}
