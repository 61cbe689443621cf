--[[ validate.lua: validate a session and touch it, in one round trip.
  KEYS[1]  session hash   auth:{u:<id>}:session:<sha256(token)>
  KEYS[2]  user's index   auth:{u:<id>}:sessions
  KEYS[3]  expiries       auth:{u:<id>}:session-expiries
  ARGV[1]  idle timeout, ms
  ARGV[2]  touch interval, ms: last activity and the idle TTL are written at most this often, so that
           most validations only read.
  ARGV[3]  session key prefix   auth:{u:<id>}:session:
  Returns  { profile JSON (field p: sid, uid, email, name, roles, tier, ua, created), last, abs }, with last = now if
           touched; nil when there is no such session or it is past its absolute expiry (then it is removed). A miss
           also prunes up to 100 of the user's ended sessions from the index.
  The common path (a live session, no touch due) reads three fields and the key's TTL and calls nothing else, not even
  TIME: every touch sets the key's TTL to min(idle, abs - last), never past the absolute expiry, so a key that still
  exists is within both expiries, and what is gone of that TTL is the time since the last touch.
]]
--@include prune-expired.lua
--@include session-profile.lua
local session, index, expiries = KEYS[1], KEYS[2], KEYS[3]

local function server_now()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local s = redis.call('HMGET', session, 'p', 'last', 'abs')
if not s[2] then
  prune_expired(index, expiries, ARGV[3], server_now(), 100)
  return nil
end
if not s[1] then
  -- Written by the layout before the profile field: moved into it once.
  s[1] = upgrade_profile(session)
end

local idle, last, absolute = tonumber(ARGV[1]), tonumber(s[2]), tonumber(s[3])
-- A key without a TTL (-1) was never touched by these scripts: touch it now.
if math.min(idle, absolute - last) - redis.call('PTTL', session) < tonumber(ARGV[2]) then
  return s
end

local now = server_now()
if now >= absolute then
  local sid = cjson.decode(s[1]).sid
  redis.call('UNLINK', session)
  redis.call('HDEL', index, sid)
  redis.call('ZREM', expiries, sid)
  return nil
end

if now - last >= tonumber(ARGV[2]) then
  -- Sliding expiry, never past the absolute one; the expiry set follows, so the cap revokes the least recently used.
  local ttl = math.min(idle, absolute - now)
  redis.call('HSET', session, 'last', now)
  redis.call('PEXPIRE', session, ttl)
  redis.call('ZADD', expiries, now + ttl, cjson.decode(s[1]).sid)
  s[2] = tostring(now)
end

return s
