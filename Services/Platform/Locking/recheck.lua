--[[ recheck.lua: a waiter not woken within a third of its lease checks its place. It may hold the lock (the
  hand-over message was lost), still be in line, or find its line gone: the line expires with the holder's lease, so
  a holder that died takes the line with it. Then it joins again (or takes the lock if it is free).
  KEYS[1]  the lock        lock:{<name>}          (layout: enqueue.lua)
  ARGV[1]  owner token     ARGV[2]  lease, ms
  Returns  1 when it holds the lock; 0 when in line.
]]
local lock, prefix = KEYS[1], ARGV[1] .. ':'
local entry = prefix .. ARGV[2]

local value = redis.call('GET', lock)
if not value then
  redis.call('SET', lock, entry, 'PX', ARGV[2])
  return 1
end
if string.sub(value, 1, #prefix) == prefix then
  return 1
end
if not string.find(value, ' ' .. prefix, 1, true) then
  redis.call('APPEND', lock, ' ' .. entry)
end
return 0
