--[[ stream-slot.lua: take one of a user's stream slots for a stream, or renew the one it holds.
  KEYS[1]  the user's open streams   notify:{u:<id>}:streams   (sorted set: stream id -> lease end, ms, server time)
  ARGV[1]  the stream's id (random, one per stream)
  ARGV[2]  most streams a user may hold open at once
  ARGV[3]  lease, ms: an open stream renews it well before it ends; the slot of a stream whose notifier died
           frees itself when its lease ends
  Returns  1 if the stream holds a slot now (taken or renewed), 0 if every slot is held by a live stream.
  Expired leases are dropped first, on the server's clock; the set's TTL is the longest lease in it.
]]
local streams = KEYS[1]
local id, limit, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', streams, '-inf', now)

if not redis.call('ZSCORE', streams, id) and redis.call('ZCARD', streams) >= limit then
  return 0
end
redis.call('ZADD', streams, now + lease, id)
redis.call('PEXPIRE', streams, lease)
return 1
