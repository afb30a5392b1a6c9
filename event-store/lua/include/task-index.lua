-- A task's event ids in its index bucket (keys.ts): space-separated, the first whole ("<ms>-<seq>"),
-- each later one as its milliseconds after the one before ("<Δms>-<seq>"). Ids of one partition
-- only grow, so the deltas are small and a finished task's ids fit in a short listpack value.

-- The number of ids in an index value (the task's version).
local function index_count(value)
  if value == '' then return 0 end
  return select(2, string.gsub(value, ' ', ' ')) + 1
end

-- The index value with `id` added, given the last id in it (nil when empty).
local function index_add(value, last, id)
  if value == '' then return id end
  local last_ms = tonumber(string.match(last, '^(%d+)'))
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return value .. ' ' .. tostring(tonumber(ms) - last_ms) .. '-' .. seq
end

-- The whole ids of an index value, in order.
local function index_ids(value)
  local ids = {}
  local ms = 0
  for token in string.gmatch(value, '%S+') do
    local part, seq = string.match(token, '^(%d+)-(%d+)$')
    if #ids == 0 then ms = tonumber(part) else ms = ms + tonumber(part) end
    ids[#ids + 1] = string.format('%.0f', ms) .. '-' .. seq
  end
  return ids
end
