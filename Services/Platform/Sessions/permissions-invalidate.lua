--[[ permissions-invalidate.lua: forget a user's cached permissions on a project, and fence out loads in flight.
  KEYS[1]  cached value   auth:{u:<id>}:perm:<project>
  KEYS[2]  generation     auth:{u:<id>}:perm-gen:<project>
  ARGV[1]  generation lifetime, ms (longer than any load can take)
  Returns  the new generation.
]]
redis.call('UNLINK', KEYS[1])
local generation = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return generation
