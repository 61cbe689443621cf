--[[ create.lua: store a new session and add it to its user's index.
  KEYS[1]  session hash   auth:{u:<id>}:session:<sha256(token)>
  KEYS[2]  user's index   auth:{u:<id>}:sessions   (hash: public session id -> sha256(token))
  ARGV[1]  public session id      ARGV[2]  user id     ARGV[3] email    ARGV[4] name
  ARGV[5]  roles (comma-separated) ARGV[6] tier        ARGV[7] user agent
  ARGV[8]  idle timeout, ms       ARGV[9]  absolute lifetime, ms
  ARGV[10] sha256(token), the index value
  Returns  { created (unix ms), absolute expiry (unix ms) }, both from the server's clock.
]]
local session, index = KEYS[1], KEYS[2]
local idle, absolute = tonumber(ARGV[8]), tonumber(ARGV[9])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local expires = now + absolute

redis.call('HSET', session,
  'sid', ARGV[1], 'uid', ARGV[2], 'email', ARGV[3], 'name', ARGV[4], 'roles', ARGV[5], 'tier', ARGV[6],
  'ua', ARGV[7], 'created', now, 'last', now, 'abs', expires)
redis.call('PEXPIRE', session, math.min(idle, absolute))

redis.call('HSET', index, ARGV[1], ARGV[10])
-- The index lives as long as its longest-lived session could.
if redis.call('PTTL', index) < absolute then
  redis.call('PEXPIRE', index, absolute)
end

return { now, expires }
