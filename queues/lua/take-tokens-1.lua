--[[
  Takes up to ARGV[3] tokens from a queue's token bucket, shared by every dispatcher
  (docs/partition-ownership.md): the bucket refills at ARGV[1] tokens a second up to ARGV[2], by
  Redis's own clock, so the dispatchers' clocks do not matter.

  KEYS[1] the bucket (hash: tokens, at)   ts:rate:{<type>}
  ARGV[1] rate per second
  ARGV[2] burst
  ARGV[3] tokens wanted

  Returns {granted, ms until the next token when none is left (0 otherwise)}.
]]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local granted = math.min(wanted, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.max(60000, math.ceil(burst / rate * 2000)))
local wait = 0
if tokens < 1 then wait = math.ceil((1 - tokens) * 1000 / rate) end
return {granted, wait}
