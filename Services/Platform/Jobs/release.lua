--[[ release.lua: give a held job back, unrun: at once for another worker (graceful shutdown past its grace
  period), or after a delay (the handler deferred it: JobDeferredException, e.g. its project's lock is held).
  The attempt does not count: the handler was stopped or deferred, it did not fail.
  KEYS     the six queue keys (see enqueue.lua): [1] ready [2] scheduled [3] active
  ARGV[1]  key prefix jobs:{<q>}:      ARGV[2]  job id      ARGV[3]  lease token
  ARGV[4]  doorbell channel            ARGV[5]  delay, ms (0: ready now; else scheduled, and its deferrals counted)
  Returns  1 released; 0 not this token's lease (nothing changes).
]]
local ready, scheduled, active = KEYS[1], KEYS[2], KEYS[3]
local prefix = ARGV[1]
local id = ARGV[2]
local job = prefix .. 'job:' .. id

if redis.call('HGET', job, 'token') ~= ARGV[3] then
  return 0
end
redis.call('ZREM', active, id)
redis.call('HDEL', job, 'token')
redis.call('HINCRBY', job, 'attempts', -1)
local delay = tonumber(ARGV[5])
if delay > 0 then
  local time = redis.call('TIME')
  local due = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + delay
  redis.call('HINCRBY', job, 'deferrals', 1)
  redis.call('HSET', job, 'state', 'scheduled', 'dueAt', due)
  redis.call('ZADD', scheduled, due, id)
else
  redis.call('HSET', job, 'state', 'pending')
  redis.call('ZADD', ready, redis.call('HGET', job, 'score'), id)
end
redis.call('PUBLISH', ARGV[4], id)
return 1
