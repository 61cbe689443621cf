--[[ fixed-window.lua: one fixed-window decision (a counter per window), for cheap limits.
  KEYS[1]  the partition's counter   api:ratelimit:{<partition>}:<rule>
  ARGV[1]  limit per window
  ARGV[2]  window, ms
  Returns  { admitted (1|0), remaining, retry after ms (0 when admitted), reset ms }.
  The counter and its expiry are set in one script: never a counter without a TTL (the INCR-then-EXPIRE race).
  A rejected request does not count. Up to 2 x limit can pass around a window boundary: that is what
  "fixed window" means; use the sliding window where that matters.
]]
local counter = KEYS[1]
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])

local count = tonumber(redis.call('GET', counter) or '0')
if count >= limit then
  local ttl = redis.call('PTTL', counter)
  return { 0, 0, ttl, ttl }
end

count = redis.call('INCR', counter)
if count == 1 then
  redis.call('PEXPIRE', counter, window)
end
local ttl = redis.call('PTTL', counter)
return { 1, limit - count, 0, ttl }
