--[[ fail.lua: record a failed attempt, only for the holder of its current lease; retry it later with
  exponential backoff and jitter, or, after its last attempt, move it to the dead letter set.
  KEYS     the six queue keys (see enqueue.lua): [2] scheduled [3] active [4] dead
  ARGV[1]  key prefix jobs:{<q>}:      ARGV[2]  job id      ARGV[3]  lease token
  ARGV[4]  error message
  ARGV[5]  1 retryable, 0 permanent (state 'failed' at once, no retry, not dead-lettered)
  ARGV[6]  first backoff, ms           ARGV[7]  longest backoff, ms
  ARGV[8]  jitter in [0, 1): the delay is d/2 + jitter*d/2 for d = min(longest, first * 2^(attempts-1)), so
           each retry waits at least as long as the one before could have
  ARGV[9]  retention of finished jobs, ms
  Returns  { 1, new state ('retrying', 'dead', 'failed'), retry delay ms (0 unless retrying) };
           { 0 } refused: not this token's lease;  { -1 } no such job.
]]
local scheduled, active, dead = KEYS[2], KEYS[3], KEYS[4]
local prefix = ARGV[1]
local id = ARGV[2]
local job = prefix .. 'job:' .. id

local f = redis.call('HMGET', job, 'token', 'attempts', 'maxAttempts', 'idem')
if not f[1] then
  if redis.call('EXISTS', job) == 0 then
    return { -1 }
  end
  return { 0 }
end
if f[1] ~= ARGV[3] then
  return { 0 }
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local attempts = tonumber(f[2])
redis.call('ZREM', active, id)
redis.call('HDEL', job, 'token')
redis.call('HSET', job, 'error', ARGV[4], 'failedAt', now)

if ARGV[5] == '1' and attempts < tonumber(f[3]) then
  local d = math.min(tonumber(ARGV[7]), tonumber(ARGV[6]) * 2 ^ (attempts - 1))
  local delay = math.floor(d / 2 + tonumber(ARGV[8]) * d / 2)
  redis.call('HSET', job, 'state', 'retrying', 'dueAt', now + delay)
  redis.call('ZADD', scheduled, now + delay, id)
  return { 1, 'retrying', delay }
end

if ARGV[5] == '1' then
  redis.call('HSET', job, 'state', 'dead', 'finishedAt', now)
  redis.call('ZADD', dead, now, id)
  return { 1, 'dead', 0 }
end

redis.call('HSET', job, 'state', 'failed', 'finishedAt', now)
redis.call('PEXPIRE', job, ARGV[9])
if f[4] and f[4] ~= '' then
  redis.call('PEXPIRE', prefix .. 'idem:' .. f[4], ARGV[9])
end
return { 1, 'failed', 0 }
