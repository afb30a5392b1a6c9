--[[
  Raises a partition's fencing epoch to a newly elected dispatcher's, so that from now on the
  partition rejects every write of an older leader.

  KEYS[1] the partition's fencing epoch   ts:{pN}:epoch
  ARGV[1] the new leader's epoch

  Returns the highest epoch after the call: equal to ARGV[1] when the caller holds the newest lease.
]]
local highest = tonumber(redis.call('GET', KEYS[1]) or '0')
local epoch = tonumber(ARGV[1])
if epoch > highest then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return tostring(highest)
