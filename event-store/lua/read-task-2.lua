--[[
  Reads a page of one task's events in order, in one round trip: at most ARGV[3] events from the
  ARGV[2]-th (0-based). A long history is read a page at a time, so no call walks it whole.

  KEYS[1] partition event stream   ts:{pN}:events
  KEYS[2] the task's index bucket   ts:{pN}:ids:<bucket> (field: task id; value: stream ids)
  ARGV[1] the task id
  ARGV[2] the index of the first event to read (0-based)
  ARGV[3] the most events to read

  Returns a flat list: how many ids the page held, then stream id, field list, stream id, …
]]
local ids = index_ids(redis.call('HGET', KEYS[2], ARGV[1]) or '')
local first, count = tonumber(ARGV[2]), tonumber(ARGV[3])
local page = {}
for index = first + 1, math.min(#ids, first + count) do page[#page + 1] = ids[index] end
local out = {#page}
for _, id in ipairs(page) do
  local entry = redis.call('XRANGE', KEYS[1], id, id)
  if entry[1] then
    out[#out + 1] = entry[1][1]
    out[#out + 1] = entry[1][2]
  end
end
return out
