--[[
  Drops the intake entries a leading dispatcher has read, fenced like every dispatcher write: a
  dispatcher whose epoch is older than the partition's cannot trim what the new leader still reads.

  KEYS[1] the partition's fencing epoch     ts:{pN}:epoch
  KEYS[2] the partition's dispatcher intake  ts:{pN}:intake
  ARGV[1] the dispatcher's fencing epoch
  ARGV[2] the intake id it has read up to: every entry before it is dropped

  Returns {STALE_EPOCH, highest epoch} when fenced off, else {OK, entries dropped}
  (event-store/reply-codes.ts).
]]
local highest = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) < highest then return {STALE_EPOCH, tostring(highest)} end
return {OK, redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2])}
