--[[ list.lua: a user's live sessions, dropping index entries whose session has gone.
  KEYS[1]  user's index   auth:{u:<id>}:sessions
  ARGV[1]  session key prefix   auth:{u:<id>}:session:
  Returns  a flat list, five values per live session: sid, created, last, user agent, absolute expiry.
           Token hashes never leave the script.
]]
local index, prefix = KEYS[1], ARGV[1]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local entries = redis.call('HGETALL', index)
local live = {}
for i = 1, #entries, 2 do
  local sid, session = entries[i], prefix .. entries[i + 1]
  local s = redis.call('HMGET', session, 'created', 'last', 'ua', 'abs')
  if s[1] and tonumber(s[4]) > now then
    table.insert(live, sid)
    table.insert(live, s[1])
    table.insert(live, s[2])
    table.insert(live, s[3])
    table.insert(live, s[4])
  else
    -- Expired by TTL, or past its absolute expiry: clean the index lazily.
    redis.call('UNLINK', session)
    redis.call('HDEL', index, sid)
  end
end
return live
