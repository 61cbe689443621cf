--[[ cancel.lua: cancel a job that is not running: pending, scheduled, retrying or dead.
  KEYS     the six queue keys (see enqueue.lua): [1] ready [2] scheduled [4] dead
  ARGV[1]  key prefix jobs:{<q>}:      ARGV[2]  job id      ARGV[3]  retention of finished jobs, ms
  Returns  { 1, 'cancelled' } cancelled; { 0, state } not cancellable in that state (active, completed,
           failed, cancelled); { -1 } no such job.
]]
local ready, scheduled, dead = KEYS[1], KEYS[2], KEYS[4]
local prefix = ARGV[1]
local id = ARGV[2]
local job = prefix .. 'job:' .. id

local f = redis.call('HMGET', job, 'state', 'idem')
if not f[1] then
  return { -1 }
end
local state = f[1]
if state ~= 'pending' and state ~= 'scheduled' and state ~= 'retrying' and state ~= 'dead' then
  return { 0, state }
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREM', ready, id)
redis.call('ZREM', scheduled, id)
redis.call('ZREM', dead, id)
redis.call('HSET', job, 'state', 'cancelled', 'finishedAt', now)
redis.call('PEXPIRE', job, ARGV[3])
if f[2] and f[2] ~= '' then
  redis.call('PEXPIRE', prefix .. 'idem:' .. f[2], ARGV[3])
end
return { 1, 'cancelled' }
