--[[
  Reads one task's events in order, in one round trip.

  KEYS[1] partition event stream   ts:{pN}:events
  KEYS[2] the task's history list   ts:{pN}:task:<id>

  Returns a flat list: stream id, field list, stream id, field list, …
]]
local ids = redis.call('LRANGE', KEYS[2], 0, -1)
local out = {}
for _, id in ipairs(ids) do
  local entry = redis.call('XRANGE', KEYS[1], id, id)
  if entry[1] then
    out[#out + 1] = entry[1][1]
    out[#out + 1] = entry[1][2]
  end
end
return out
