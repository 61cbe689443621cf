--[[ revoke-all.lua: end every session of a user, and the index, in one round trip.
  KEYS[1]  user's index   auth:{u:<id>}:sessions
  KEYS[2]  expiries       auth:{u:<id>}:session-expiries
  ARGV[1]  session key prefix   auth:{u:<id>}:session:
  Returns  the number of session keys that still existed and were removed.
]]
--@include prune-expired.lua
local index, expiries, prefix = KEYS[1], KEYS[2], ARGV[1]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
prune_expired(index, expiries, prefix, now, nil)

local hashes = redis.call('HVALS', index)
local removed = 0
-- UNLINK in batches: Lua's unpack has a stack limit of a few thousand values.
local batch = {}
for i = 1, #hashes do
  table.insert(batch, prefix .. hashes[i])
  if #batch == 500 or i == #hashes then
    removed = removed + redis.call('UNLINK', unpack(batch))
    batch = {}
  end
end
redis.call('UNLINK', index, expiries)
return removed
