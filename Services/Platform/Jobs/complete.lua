--[[ complete.lua: finish a job, only for the holder of its current lease.
  KEYS     the six queue keys (see enqueue.lua): [3] active
  ARGV[1]  key prefix jobs:{<q>}:      ARGV[2]  job id      ARGV[3]  lease token
  ARGV[4]  result (JSON, or '')        ARGV[5]  retention of finished jobs, ms
  Returns  1 completed; 0 refused: the lease is not this token's (expired and requeued, or the job was
           cancelled): the work may run again elsewhere, so its effect must be idempotent; -1 no such job.
]]
local active = KEYS[3]
local prefix = ARGV[1]
local job = prefix .. 'job:' .. ARGV[2]

local f = redis.call('HMGET', job, 'token', 'idem')
if not f[1] then
  if redis.call('EXISTS', job) == 0 then
    return -1
  end
  return 0
end
if f[1] ~= ARGV[3] then
  return 0
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREM', active, ARGV[2])
redis.call('HDEL', job, 'token')
redis.call('HSET', job, 'state', 'completed', 'result', ARGV[4], 'finishedAt', now)
redis.call('PEXPIRE', job, ARGV[5])
if f[2] and f[2] ~= '' then
  redis.call('PEXPIRE', prefix .. 'idem:' .. f[2], ARGV[5])
end
return 1
