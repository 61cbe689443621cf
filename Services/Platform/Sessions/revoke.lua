--[[ revoke.lua: end one session of a user, found by its public id.
  KEYS[1]  user's index   auth:{u:<id>}:sessions
  KEYS[2]  expiries       auth:{u:<id>}:session-expiries
  ARGV[1]  session key prefix   auth:{u:<id>}:session:
  ARGV[2]  public session id
  Returns  1 if the session existed in the index, 0 if not.
]]
local index, expiries, prefix, sid = KEYS[1], KEYS[2], ARGV[1], ARGV[2]

local hash = redis.call('HGET', index, sid)
if not hash then
  return 0
end
redis.call('UNLINK', prefix .. hash)
redis.call('HDEL', index, sid)
redis.call('ZREM', expiries, sid)
return 1
