--[[ validate.lua: validate a session and touch it, in one round trip.
  KEYS[1]  session hash   auth:{u:<id>}:session:<sha256(token)>
  KEYS[2]  user's index   auth:{u:<id>}:sessions
  ARGV[1]  idle timeout, ms
  ARGV[2]  touch interval, ms: last activity and the idle TTL are written at most this often, so that
           most validations only read.
  Returns  the values of sid, uid, email, name, roles, tier, ua, created, last, abs, in that order
           (SessionStore.ValidatedFields), with last = now if touched;
           nil when there is no such session or it is past its absolute expiry (then it is removed).
]]
local session, index = KEYS[1], KEYS[2]

local s = redis.call('HMGET', session, 'sid', 'uid', 'email', 'name', 'roles', 'tier', 'ua', 'created', 'last', 'abs')
if not s[1] then
  return nil
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local absolute = tonumber(s[10])

if now >= absolute then
  redis.call('UNLINK', session)
  redis.call('HDEL', index, s[1])
  return nil
end

if now - tonumber(s[9]) >= tonumber(ARGV[2]) then
  redis.call('HSET', session, 'last', now)
  -- Sliding expiry, never past the absolute one.
  redis.call('PEXPIRE', session, math.min(tonumber(ARGV[1]), absolute - now))
  s[9] = tostring(now)
end

return s
