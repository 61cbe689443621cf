--[[ acquire.lua: take a lock if it is free, with a lease and a fencing token.
  KEYS[1]  the lock        lock:{<name>}          (hash: owner, fence; expires with the lease)
  KEYS[2]  fence counter   lock:{<name>}:fence    (never expires: tokens grow across all holders ever)
  ARGV[1]  owner token (random per acquisition)
  ARGV[2]  lease, ms
  Returns  { 1, fencing token } when taken; { 0, ms left on the current holder's lease } when held.
]]
local lock, fence = KEYS[1], KEYS[2]

if redis.call('EXISTS', lock) == 1 then
  return { 0, redis.call('PTTL', lock) }
end

local token = redis.call('INCR', fence)
redis.call('HSET', lock, 'owner', ARGV[1], 'fence', token)
redis.call('PEXPIRE', lock, ARGV[2])
return { 1, token }
