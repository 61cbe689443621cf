--[[ release.lua: free the lock, only for the owner, and wake waiters.
  KEYS[1]  the lock        lock:{<name>}
  ARGV[1]  owner token     ARGV[2]  the release channel (lock:{<name>}:released)
  Returns  1 if released; 0 if it was not ours (expired, or taken by another): nothing is deleted then.
]]
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], '1')
return 1
