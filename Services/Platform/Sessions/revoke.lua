--[[ revoke.lua: end one session of a user, found by its public id.
  KEYS[1]  user's index   auth:{u:<id>}:sessions
  ARGV[1]  session key prefix   auth:{u:<id>}:session:
  ARGV[2]  public session id
  Returns  1 if the session existed in the index, 0 if not.
]]
local index, prefix, sid = KEYS[1], ARGV[1], ARGV[2]

local hash = redis.call('HGET', index, sid)
if not hash then
  return 0
end
redis.call('UNLINK', prefix .. hash)
redis.call('HDEL', index, sid)
return 1
