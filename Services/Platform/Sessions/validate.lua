--[[ validate.lua: validate a session and touch it, in one round trip.
  KEYS[1]  session hash   auth:{u:<id>}:session:<sha256(token)>
  KEYS[2]  user's index   auth:{u:<id>}:sessions
  ARGV[1]  idle timeout, ms
  ARGV[2]  touch interval, ms: last activity and the idle TTL are written at most this often, so that
           most validations only read.
  Returns  the session's fields as a flat list (field, value, ...), with 'last' as now if touched;
           nil when there is no such session or it is past its absolute expiry (then it is removed).
]]
local session, index = KEYS[1], KEYS[2]

local fields = redis.call('HGETALL', session)
if #fields == 0 then
  return nil
end

local s = {}
for i = 1, #fields, 2 do
  s[fields[i]] = i + 1
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local absolute = tonumber(fields[s['abs']])

if now >= absolute then
  redis.call('UNLINK', session)
  redis.call('HDEL', index, fields[s['sid']])
  return nil
end

if now - tonumber(fields[s['last']]) >= tonumber(ARGV[2]) then
  redis.call('HSET', session, 'last', now)
  -- Sliding expiry, never past the absolute one.
  redis.call('PEXPIRE', session, math.min(tonumber(ARGV[1]), absolute - now))
  fields[s['last']] = tostring(now)
end

return fields
