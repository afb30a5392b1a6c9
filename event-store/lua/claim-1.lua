--[[
  Claims a partition for a dispatcher that has just been granted it: raises the partition's fencing
  epoch past every epoch handed out before, so that from now on the partition rejects every write
  of an earlier owner, and returns the new epoch (docs/partition-ownership.md).

  The epoch is the stored one plus one, or the floor when that is higher (the claim's etcd revision,
  so that epochs also grow with the elections). It never depends on etcd alone: an etcd restored from
  a backup restarts its revisions lower, and the epochs still grow.

  KEYS[1] the partition's fencing epoch   ts:{pN}:epoch
  ARGV[1] the floor

  Returns the new epoch.
]]
local highest = tonumber(redis.call('GET', KEYS[1]) or '0')
local epoch = math.max(highest + 1, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%d', epoch))
return string.format('%d', epoch)
