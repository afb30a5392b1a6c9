--[[
  Appends the events of one or more tasks of ONE partition to its stream, atomically, each task
  after its own checks. One call carries every append a process queued for the partition during
  one turn of its event loop: one round trip and one script run instead of one per task.

  KEYS[1]            the partition's event stream        ts:{pN}:events
  KEYS[2]            the partition's fencing epoch       ts:{pN}:epoch
  KEYS[3]            the partition's dispatcher intake   ts:{pN}:intake (written only when ARGV[4] is '1')
  KEYS[2+2i]         task i's index bucket (a hash)      ts:{pN}:ids:<bucket>: field = task id,
                     value = its stream ids (include/task-index.lua; its version = their count)
  KEYS[3+2i]         task i's idempotency key            ts:{pN}:idem:<key> (read only when it has one);
                     its value is "<task id> <request hash>" (older values: "<task id>")

  ARGV[1]            writer's fencing epoch ('' for unfenced writers: the command API)
  ARGV[2]            dedup window in ms
  ARGV[3]            m, the number of tasks
  ARGV[4]            '1': also copy each appended event to the intake, with its log id (the
                     dispatcher follows the intake for the events it did not write itself;
                     docs/dispatcher-intake.md)
  then, per task i:  task id, expected version ('-1' skips the check), has idempotency key (0|1),
                     the request's hash ('' when none), n, then type and data of each of its n events

  The fencing check holds for the whole call. Returns {STALE_EPOCH, highest epoch} when a writer
  with a higher epoch has written here (nothing is appended), else {OK, r1, …, rm} with per task:
    {OK, new version, stream id…}        appended
    {VERSION_CONFLICT, actual version}   version conflict (optimistic concurrency)
    {DEDUPLICATED, existing value}       the key already names a task ("<id> <hash>")
  The codes are event-store/reply-codes.ts's REPLY, defined as locals when the script is loaded.
]]
if ARGV[1] ~= '' then
  local epoch = tonumber(ARGV[1])
  local highest = tonumber(redis.call('GET', KEYS[2]) or '0')
  if epoch < highest then return {STALE_EPOCH, tostring(highest)} end
  if epoch > highest then redis.call('SET', KEYS[2], ARGV[1]) end
end

local window = ARGV[2]
local tasks = tonumber(ARGV[3])
local announce = ARGV[4] == '1'
local out = {OK}
local a = 5
for i = 1, tasks do
  local bucket, idem = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local task_id, expected, has_idem = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  local hash, n = ARGV[a + 3], tonumber(ARGV[a + 4])
  local first = a + 5
  a = first + 2 * n
  local ids = redis.call('HGET', bucket, task_id) or ''
  local version = index_count(ids)
  local last = ids ~= '' and index_ids(ids)[version] or nil
  local existing = has_idem == '1' and redis.call('GET', idem)
  -- The idempotency key first: a submission re-sent after its reply was lost finds its own task
  -- (version 1, not 0) and must be answered as the duplicate it is, not as a conflict.
  if existing then
    out[#out + 1] = {DEDUPLICATED, existing}
  elseif expected >= 0 and version ~= expected then
    out[#out + 1] = {VERSION_CONFLICT, tostring(version)}
  else
    if has_idem == '1' then
      local value = task_id
      if hash ~= '' then value = task_id .. ' ' .. hash end
      redis.call('SET', idem, value, 'PX', window)
    end
    local result = {OK, tostring(version + n)}
    for e = 0, n - 1 do
      version = version + 1
      local v, kind, data = tostring(version), ARGV[first + 2 * e], ARGV[first + 2 * e + 1]
      local id = redis.call('XADD', KEYS[1], '*', 'task', task_id, 'v', v, 'type', kind, 'data', data)
      ids = index_add(ids, last, id)
      last = id
      if announce then
        redis.call('XADD', KEYS[3], '*', 'task', task_id, 'v', v, 'type', kind, 'data', data, 'id', id)
      end
      result[#result + 1] = id
    end
    redis.call('HSET', bucket, task_id, ids)
    out[#out + 1] = result
  end
end
return out
