--[[ list.lua: a user's live sessions, pruning ended ones first.
  KEYS[1]  user's index   auth:{u:<id>}:sessions
  KEYS[2]  expiries       auth:{u:<id>}:session-expiries
  ARGV[1]  session key prefix   auth:{u:<id>}:session:
  Returns  a flat list, five values per live session: sid, created, last, user agent, absolute expiry.
           Token hashes never leave the script.
]]
--@include prune-expired.lua
--@include session-profile.lua
local index, expiries, prefix = KEYS[1], KEYS[2], ARGV[1]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
prune_expired(index, expiries, prefix, now, nil)

local entries = redis.call('HGETALL', index)
local live = {}
for i = 1, #entries, 2 do
  local sid, session = entries[i], prefix .. entries[i + 1]
  local p = session_profile(session)
  local s = redis.call('HMGET', session, 'last', 'abs')
  if p and tonumber(s[2]) > now then
    local profile = cjson.decode(p)
    table.insert(live, sid)
    table.insert(live, profile.created)
    table.insert(live, s[1])
    table.insert(live, profile.ua)
    table.insert(live, s[2])
  else
    -- An entry the expiry set does not know (written before it existed), or ended within this millisecond.
    redis.call('UNLINK', session)
    redis.call('HDEL', index, sid)
    redis.call('ZREM', expiries, sid)
  end
end
return live
