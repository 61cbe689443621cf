--[[ update-user.lua: rewrite fields of every live session of a user (a tier or role change) at once.
  KEYS[1]  user's index   auth:{u:<id>}:sessions
  KEYS[2]  expiries       auth:{u:<id>}:session-expiries
  ARGV[1]  session key prefix   auth:{u:<id>}:session:
  ARGV[2..] profile field, value pairs to set, e.g. 'tier', 'premium', 'roles', 'user'
  Returns  the number of sessions rewritten.
]]
--@include prune-expired.lua
--@include session-profile.lua
local index, expiries, prefix = KEYS[1], KEYS[2], ARGV[1]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
prune_expired(index, expiries, prefix, now, nil)

local entries = redis.call('HGETALL', index)
local updated = 0
for i = 1, #entries, 2 do
  local session = prefix .. entries[i + 1]
  -- HSET on a session that has expired would bring it back as a hash with no TTL: only a live one is rewritten.
  local p = session_profile(session)
  if p then
    local profile = cjson.decode(p)
    for j = 2, #ARGV, 2 do
      profile[ARGV[j]] = ARGV[j + 1]
    end
    redis.call('HSET', session, 'p', cjson.encode(profile))
    updated = updated + 1
  else
    redis.call('HDEL', index, entries[i])
    redis.call('ZREM', expiries, entries[i])
  end
end
return updated
