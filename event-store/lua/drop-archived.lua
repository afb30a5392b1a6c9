--[[
  Removes archived tasks from one partition: their stream entries and their index fields. Each
  task is removed only if its history is still exactly what was archived (its event count); a task
  that changed since it was read (revived, say) is left alone and reported.

  KEYS[1]      the partition's event stream   ts:{pN}:events
  KEYS[1+i]    task i's index bucket          ts:{pN}:ids:<bucket>
  ARGV[1]      m, the number of tasks
  then, per task i: task id, the number of events archived

  Returns {OK, r1, …, rm}: 1 removed, 0 left alone (event-store/reply-codes.ts).
]]
local out = {OK}
for i = 1, tonumber(ARGV[1]) do
  local task_id, archived = ARGV[2 * i], tonumber(ARGV[2 * i + 1])
  local bucket = KEYS[1 + i]
  local value = redis.call('HGET', bucket, task_id) or ''
  if index_count(value) == archived and archived > 0 then
    local ids = index_ids(value)
    for first = 1, #ids, 500 do
      redis.call('XDEL', KEYS[1], unpack(ids, first, math.min(#ids, first + 499)))
    end
    redis.call('HDEL', bucket, task_id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
