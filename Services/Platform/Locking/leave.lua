--[[ leave.lua: a waiter gives up (its wait ran out, or it was cancelled): it leaves the line. If the lock was handed
  to it before it left, it holds the lock: the caller takes it, or releases it to the next waiter.
  KEYS[1]  the lock        lock:{<name>}          (layout: enqueue.lua)
  ARGV[1]  owner token
  Returns  1 when it holds the lock; 0 when it has left (or was not in line).
]]
local lock, prefix = KEYS[1], ARGV[1] .. ':'

local value = redis.call('GET', lock)
if not value then
  return 0
end
if string.sub(value, 1, #prefix) == prefix then
  return 1
end
local at = string.find(value, ' ' .. prefix, 1, true)
if not at then
  return 0
end
local after = string.find(value, ' ', at + 1, true)
local ttl = math.max(1, redis.call('PTTL', lock))
redis.call('SET', lock, string.sub(value, 1, at - 1) .. (after and string.sub(value, after) or ''), 'PX', ttl)
return 0
