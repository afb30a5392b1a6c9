--[[
  Appends one task's events to its partition stream, atomically, after three checks.

  KEYS[1] partition event stream          ts:{pN}:events
  KEYS[2] the task's history list          ts:{pN}:task:<id>
  KEYS[3] the partition's fencing epoch    ts:{pN}:epoch
  KEYS[4] the idempotency key              ts:{pN}:idem:<key> (read only when ARGV[4] ~= '')

  ARGV[1] task id
  ARGV[2] expected version of the task ('-1' skips the check)
  ARGV[3] writer's fencing epoch ('' for unfenced writers: the command API)
  ARGV[4] dedup window in ms ('' when the submission has no idempotency key)
  ARGV[5] n, the number of events
  ARGV[6 .. 5+2n] type, data of each event

  Returns {1, new version, stream id…} on success, or an error code:
    {-1, actual version}      version conflict (optimistic concurrency)
    {-2, existing task id}    deduplicated: the key already names a task
    {-3, highest epoch}       fenced: a writer with a higher epoch has written here
]]
local task_id = ARGV[1]
local expected = tonumber(ARGV[2])

if ARGV[3] ~= '' then
  local epoch = tonumber(ARGV[3])
  local highest = tonumber(redis.call('GET', KEYS[3]) or '0')
  if epoch < highest then return {-3, tostring(highest)} end
  if epoch > highest then redis.call('SET', KEYS[3], ARGV[3]) end
end

local version = redis.call('LLEN', KEYS[2])
if expected >= 0 and version ~= expected then return {-1, tostring(version)} end

if ARGV[4] ~= '' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return {-2, existing} end
  redis.call('SET', KEYS[4], task_id, 'PX', ARGV[4])
end

local n = tonumber(ARGV[5])
local result = {1, tostring(version + n)}
for i = 0, n - 1 do
  version = version + 1
  local id = redis.call('XADD', KEYS[1], '*',
    'task', task_id, 'v', tostring(version), 'type', ARGV[6 + 2 * i], 'data', ARGV[7 + 2 * i])
  redis.call('RPUSH', KEYS[2], id)
  result[#result + 1] = id
end
return result
