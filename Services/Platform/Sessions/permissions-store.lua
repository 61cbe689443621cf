--[[ permissions-store.lua: cache a user's permissions on a project, unless they changed while being loaded.
  KEYS[1]  cached value   auth:{u:<id>}:perm:<project>
  KEYS[2]  generation     auth:{u:<id>}:perm-gen:<project>   (bumped by every invalidation)
  ARGV[1]  the generation read before loading ('' when there was none)
  ARGV[2]  the value (JSON)          ARGV[3]  time to live, ms
  Returns  1 if stored, 0 if an invalidation came in between (the loaded value may be stale: not stored).
]]
local value, generation = KEYS[1], KEYS[2]
local current = redis.call('GET', generation) or ''
if current ~= ARGV[1] then
  return 0
end
redis.call('SET', value, ARGV[2], 'PX', ARGV[3])
return 1
