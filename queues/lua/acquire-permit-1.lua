--[[
  Takes one of a concurrency key's running slots for a task, shared by every dispatcher
  (docs/partition-ownership.md). Idempotent: a task that holds one already keeps it.

  KEYS[1] the key's permits (hash: task id → partition)   ts:permits:{<key>}
  ARGV[1] task id
  ARGV[2] its partition
  ARGV[3] the key's limit; 0 records the permit whatever the count (a task found running)

  Returns 1 when the task holds a permit, 0 when the key is full.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
local limit = tonumber(ARGV[3])
if limit > 0 and redis.call('HLEN', KEYS[1]) >= limit then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
