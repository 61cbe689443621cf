--[[ release.lua: give a held job back, unrun, for another worker (graceful shutdown past its grace period).
  The attempt does not count: the handler was stopped, it did not fail.
  KEYS     the six queue keys (see enqueue.lua): [1] ready [3] active
  ARGV[1]  key prefix jobs:{<q>}:      ARGV[2]  job id      ARGV[3]  lease token
  ARGV[4]  doorbell channel
  Returns  1 released; 0 not this token's lease (nothing changes).
]]
local ready, active = KEYS[1], KEYS[3]
local prefix = ARGV[1]
local id = ARGV[2]
local job = prefix .. 'job:' .. id

if redis.call('HGET', job, 'token') ~= ARGV[3] then
  return 0
end
redis.call('ZREM', active, id)
redis.call('HDEL', job, 'token')
redis.call('HINCRBY', job, 'attempts', -1)
redis.call('HSET', job, 'state', 'pending')
redis.call('ZADD', ready, redis.call('HGET', job, 'score'), id)
redis.call('PUBLISH', ARGV[4], id)
return 1
