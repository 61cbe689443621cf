--[[ sliding-window.lua: one exact sliding-window decision (a log of admitted requests).
  KEYS[1]  the partition's log   api:ratelimit:{<partition>}:<rule>   (sorted set: member per admitted request, score = ms)
  ARGV[1]  limit: requests admitted in any window
  ARGV[2]  window, ms
  ARGV[3]  a unique id for this request (two requests in one millisecond are two members)
  Returns  { admitted (1|0), remaining, retry after ms (0 when admitted), reset ms (until the oldest admitted
           request leaves the window) }. A rejected request is not logged: it consumes no quota.
  Exact: at most `limit` members have a score in (now - window, now], and the key expires one window after
  the last admission, in this same script.
]]
local log = KEYS[1]
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
local count = redis.call('ZCARD', log)

if count < limit then
  redis.call('ZADD', log, now, ARGV[3])
  redis.call('PEXPIRE', log, window)
  local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
  return { 1, limit - count - 1, 0, tonumber(oldest[2]) + window - now }
end

-- Full: a slot frees when the oldest admitted request leaves the window.
local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
local retry = tonumber(oldest[2]) + window - now
return { 0, 0, retry, retry }
