--[[ permissions-invalidate.lua: forget a user's cached permissions on a project, and fence out loads in flight.
  KEYS[1]  cached value   auth:{u:<id>}:perm:<project>
  KEYS[2]  generation     auth:{u:<id>}:perm-gen:<project>
  ARGV[1]  a new random generation token: never one a load may have read before, even after the key expired or
           Redis lost its data (a counter would start again at 1 and could match a load's old read)
  ARGV[2]  generation lifetime, ms (longer than any load can take)
  Returns  1.
]]
redis.call('UNLINK', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
