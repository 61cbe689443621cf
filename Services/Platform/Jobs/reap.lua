--[[ reap.lua: recover the jobs of crashed or stalled workers: every job whose lease has ended goes back to
  ready (the lost attempt counts), or to the dead letter set if that was its last attempt. Every worker calls
  this every interval; the guard lets one call per interval do the work and the others return at once.
  An id in active whose hash is gone (or partial) is an orphan: removed from active, its partial hash deleted, counted.
  KEYS     the six queue keys (see enqueue.lua): [1] ready [3] active [4] dead [6] reaper guard
  ARGV[1]  key prefix jobs:{<q>}:      ARGV[2]  caller id (held in the guard)
  ARGV[3]  interval, ms (the guard's lifetime)          ARGV[4]  most jobs to recover in one call
  ARGV[5]  doorbell channel
  ARGV[6]  '1' when the caller met this queue's Redis unreachable within the last lease (plus two intervals and a
           second, see Reaper.OutageWindow): the leases
           ending now may have ended because their workers' renewals and outcomes could not get through (a failover,
           a restart), not because the workers stopped. The outage is not the jobs' fault: each goes back to ready
           with its attempt not counted, and none is dead-lettered. Otherwise (or absent) the lost attempt counts.
  Returns  { requeued, dead-lettered, orphans removed, of the requeued those whose attempt was not counted };
           { -1, -1, 0, 0 } when another worker reaped within the interval.
]]
local ready, active, dead, guard = KEYS[1], KEYS[3], KEYS[4], KEYS[6]
local prefix = ARGV[1]
local outage = ARGV[6] == '1'

if not redis.call('SET', guard, ARGV[2], 'NX', 'PX', ARGV[3]) then
  return { -1, -1, 0, 0 }
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', active, '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
local requeued, died, orphans, excused = 0, 0, 0, 0
for _, id in ipairs(expired) do
  local job = prefix .. 'job:' .. id
  local f = redis.call('HMGET', job, 'attempts', 'maxAttempts', 'score')
  if not f[2] or not f[3] then
    redis.call('DEL', job)
    orphans = orphans + 1
  else
    redis.call('HDEL', job, 'token')
    if outage then
      if tonumber(f[1]) > 0 then
        redis.call('HINCRBY', job, 'attempts', -1)
      end
      redis.call('HSET', job, 'state', 'pending', 'error', 'lease expired during a Redis outage: attempt not counted')
      redis.call('ZADD', ready, f[3], id)
      requeued = requeued + 1
      excused = excused + 1
    elseif tonumber(f[1]) >= tonumber(f[2]) then
      redis.call('HSET', job, 'state', 'dead', 'error', 'lease expired on the last attempt', 'finishedAt', now)
      redis.call('ZADD', dead, now, id)
      died = died + 1
    else
      redis.call('HSET', job, 'state', 'pending', 'error', 'lease expired: the worker stopped or stalled')
      redis.call('ZADD', ready, f[3], id)
      requeued = requeued + 1
    end
  end
end
if #expired > 0 then
  redis.call('ZREM', active, unpack(expired))
end
if requeued > 0 then
  redis.call('PUBLISH', ARGV[5], 'reaped')
end
return { requeued, died, orphans, excused }
