--[[ extend.lua: renew the lease, only for the holder (its waiters' line keeps the same expiry).
  KEYS[1]  the lock        lock:{<name>}          (layout: enqueue.lua)
  ARGV[1]  owner token     ARGV[2]  lease, ms
  Returns  1 if renewed; 0 if the lock is gone or someone else's (the holder has lost it).
]]
local prefix = ARGV[1] .. ':'
local value = redis.call('GET', KEYS[1])
if not value or string.sub(value, 1, #prefix) ~= prefix then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
