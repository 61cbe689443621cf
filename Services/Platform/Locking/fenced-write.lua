--[[ fenced-write.lua: write a resource only if the writer's fencing token is the newest seen.
  KEYS[1]  the resource    (hash: value, fence)
  ARGV[1]  fencing token   ARGV[2]  value
  Returns  1 if written; 0 if a holder with a newer (or the same) token wrote first: a stale holder's late
           write is rejected even though it still believes it holds the lock.
]]
local seen = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
if tonumber(ARGV[1]) <= seen then
  return 0
end
redis.call('HSET', KEYS[1], 'value', ARGV[2], 'fence', ARGV[1])
return 1
