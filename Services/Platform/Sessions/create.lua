--[[ create.lua: store a new session and add it to its user's index, pruning ended ones and revoking beyond the cap.
  KEYS[1]  session hash   auth:{u:<id>}:session:<sha256(token)>
  KEYS[2]  user's index   auth:{u:<id>}:sessions          (hash: public session id -> sha256(token))
  KEYS[3]  expiries       auth:{u:<id>}:session-expiries  (sorted set: public session id -> idle expiry, unix ms)
  ARGV[1]  public session id      ARGV[2]  user id     ARGV[3] email    ARGV[4] name
  ARGV[5]  roles (comma-separated) ARGV[6] tier        ARGV[7] user agent
  ARGV[8]  idle timeout, ms       ARGV[9]  absolute lifetime, ms
  ARGV[10] sha256(token), the index value
  ARGV[11] session key prefix     auth:{u:<id>}:session:
  ARGV[12] most live sessions a user may have: beyond it the least recently used are revoked
  Returns  { created (unix ms), absolute expiry (unix ms), sessions revoked for the cap }, times on the server's clock.
  The session hash holds three fields: p (the profile, JSON: see includes/session-profile.lua), last and abs.
]]
--@include prune-expired.lua
local session, index, expiries = KEYS[1], KEYS[2], KEYS[3]
local idle, absolute, prefix, cap = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[11], tonumber(ARGV[12])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local expires = now + absolute

prune_expired(index, expiries, prefix, now, nil)

local profile = cjson.encode({ sid = ARGV[1], uid = ARGV[2], email = ARGV[3], name = ARGV[4], roles = ARGV[5],
  tier = ARGV[6], ua = ARGV[7], created = now })
redis.call('HSET', session, 'p', profile, 'last', now, 'abs', expires)
redis.call('PEXPIRE', session, math.min(idle, absolute))
redis.call('HSET', index, ARGV[1], ARGV[10])
redis.call('ZADD', expiries, now + math.min(idle, absolute), ARGV[1])

-- The cap: revoke the sessions whose idle expiry is nearest, i.e. those used least recently.
local revoked = 0
local excess = redis.call('ZCARD', expiries) - cap
if excess > 0 then
  local oldest = redis.call('ZRANGE', expiries, 0, excess - 1)
  for i = 1, #oldest do
    local hash = redis.call('HGET', index, oldest[i])
    if hash then
      revoked = revoked + redis.call('UNLINK', prefix .. hash)
      redis.call('HDEL', index, oldest[i])
    end
    redis.call('ZREM', expiries, oldest[i])
  end
end

-- The index lives as long as its longest-lived session could.
for _, key in ipairs({ index, expiries }) do
  if redis.call('PTTL', key) < absolute then
    redis.call('PEXPIRE', key, absolute)
  end
end

return { now, expires, revoked }
