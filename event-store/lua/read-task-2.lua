--[[
  Reads a page of one task's events in order, in one round trip: at most ARGV[2] events from the
  ARGV[1]-th (0-based). A long history is read a page at a time, so no call walks it whole.

  KEYS[1] partition event stream   ts:{pN}:events
  KEYS[2] the task's history list   ts:{pN}:task:<id>
  ARGV[1] the index of the first event to read (0-based)
  ARGV[2] the most events to read

  Returns a flat list: how many ids the page held, then stream id, field list, stream id, …
]]
local first = tonumber(ARGV[1])
local ids = redis.call('LRANGE', KEYS[2], first, first + tonumber(ARGV[2]) - 1)
local out = {#ids}
for _, id in ipairs(ids) do
  local entry = redis.call('XRANGE', KEYS[1], id, id)
  if entry[1] then
    out[#out + 1] = entry[1][1]
    out[#out + 1] = entry[1][2]
  end
end
return out
