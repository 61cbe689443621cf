--[[ extend.lua: renew the lease, only for the owner.
  KEYS[1]  the lock        lock:{<name>}
  ARGV[1]  owner token     ARGV[2]  lease, ms
  Returns  1 if renewed; 0 if the lock is gone or someone else's (the holder has lost it).
]]
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
