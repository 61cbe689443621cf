--[[ claim.lua: complete the job the caller just finished, if it names one (only for the holder of its current
  lease); then promote due scheduled jobs and lease up to N of the highest-priority ready jobs. A busy worker's
  "done, next" is one round trip; an idle worker's claim names no job; a stopping worker's completion claims none.
  Idempotent per call: ARGV[4] is unique per call, and a call that completed or leased anything stores its reply
  under <prefix>call:<ARGV[4]> for a lease. A retry whose first reply was lost (a timeout) gets that same reply:
  the jobs the first call leased (their leases renewed from now, see below), its completion as it was; nothing is
  leased twice, no attempt is burnt. A retry that finds no stored reply runs as a first send would: the first never
  ran, or ran on a master that died before its replica had it. Either way every lease in the answer starts no
  earlier than this send, which is where the caller counts it from. Only a retry (ARGV[10] = 1) looks for a stored
  reply: a first send has none to find.
  An id whose hash is gone (deleted by hand, evicted, a partial restore) is an orphan: it is removed from
  scheduled or ready, any partial hash is deleted, and it is counted; the queue goes on with the other jobs.
  KEYS     the six queue keys (see enqueue.lua): [1] ready [2] scheduled [3] active
  ARGV[1]  key prefix jobs:{<q>}:
  ARGV[2]  how many jobs to claim at most (0: complete only)
  ARGV[3]  lease (visibility timeout), ms: not completed, failed or renewed by then, the reaper requeues the job
  ARGV[4]  random call id, new per call and the same on its retries; job i of this call gets the lease token <id>:<i>
  ARGV[5]  how many due scheduled jobs to promote at most
  ARGV[6]  id of the job to complete first, or '' (claim only)
  ARGV[7]  its lease token     ARGV[8]  its result (JSON, or '')     ARGV[9]  retention of finished jobs, ms
  ARGV[10] 1 when this is a retry of the call (sent before, reply lost), else 0
  A claim that leases fewer jobs than it asked for found the queue empty: it sets <prefix>idle, so the next enqueue
  rings the doorbell (see enqueue.lua). A completed job keeps an empty token, which no lease token matches.
  Common path of a busy worker's "done, next" (nothing scheduled due): TIME, HMGET + ZREM + HSET + PEXPIRE for the
  completion, ZRANGE of the first scheduled job, ZPOPMIN, HMGET + HSET + ZADD per leased job, SET of the reply.
  Returns  { ms until the next scheduled job is due (-1: none, or nothing claimed),
             completion: 1 completed; 0 refused: the lease is not this token's (expired and requeued, or the job
               was cancelled): the work may run again elsewhere, so its effect must be idempotent; -1 no such job;
               '' no job named,
             orphans removed from scheduled and ready,
             then 10 fields per claimed job: id, lease token, type, payload, attempts (this one included),
             max attempts, traceparent, tracestate, enqueuedAt, deferrals }
           A refused completion still claims: the caller's slot is free either way.
]]
local ready, scheduled, active = KEYS[1], KEYS[2], KEYS[3]
local prefix = ARGV[1]
local call = prefix .. 'call:' .. ARGV[4]

if ARGV[10] == '1' then
  local replay = redis.call('GET', call)
  if replay then
    -- The first send ran and its reply was lost. The caller counts the leases in the answer from THIS send (the
    -- first send may have waited in a stalled link or died with a master, so the leases may be younger than it):
    -- the ones still held under their token are renewed from now; a job no longer held (requeued, cancelled) is
    -- left out, its lease is gone.
    local stored = cjson.decode(replay)
    local time = redis.call('TIME')
    local leaseEnd = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[3])
    local out = { stored[1], stored[2], stored[3] }
    for i = 4, #stored, 10 do
      if redis.call('HGET', prefix .. 'job:' .. stored[i], 'token') == stored[i + 1] then
        redis.call('ZADD', active, leaseEnd, stored[i])
        for j = i, i + 9 do
          out[#out + 1] = stored[j]
        end
      end
    end
    return out
  end
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local out = { -1, '', 0 }
local orphans = 0

if ARGV[6] ~= '' then
  local job = prefix .. 'job:' .. ARGV[6]
  local f = redis.call('HMGET', job, 'token', 'idem')
  if ARGV[7] ~= '' and f[1] == ARGV[7] then
    redis.call('ZREM', active, ARGV[6])
    redis.call('HSET', job, 'state', 'completed', 'token', '', 'result', ARGV[8], 'finishedAt', now)
    redis.call('PEXPIRE', job, ARGV[9])
    if f[2] and f[2] ~= '' then
      redis.call('PEXPIRE', prefix .. 'idem:' .. f[2], ARGV[9])
    end
    out[2] = 1
  elseif f[1] or redis.call('EXISTS', job) == 1 then
    out[2] = 0
  else
    out[2] = -1
  end
end

local n = tonumber(ARGV[2])
if n > 0 then
  -- The first scheduled job tells whether any is due; most claims find none, and then it is also the next due.
  local next = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
  if next[2] and tonumber(next[2]) <= now then
    local due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
    for _, id in ipairs(due) do
      local job = prefix .. 'job:' .. id
      local score = redis.call('HGET', job, 'score')
      if score then
        redis.call('ZADD', ready, score, id)
        redis.call('HSET', job, 'state', 'pending')
      else
        redis.call('DEL', job)
        orphans = orphans + 1
      end
    end
    if #due > 0 then
      redis.call('ZREM', scheduled, unpack(due))
    end
    next = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
  end
  if next[2] then
    out[1] = math.max(0, tonumber(next[2]) - now)
  end

  local leaseEnd = now + tonumber(ARGV[3])
  local claimed = 0
  while claimed < n do
    local wanted = n - claimed
    local popped = redis.call('ZPOPMIN', ready, wanted)
    for i = 1, #popped, 2 do
      local id = popped[i]
      local job = prefix .. 'job:' .. id
      local f = redis.call('HMGET', job, 'type', 'payload', 'maxAttempts', 'traceparent', 'tracestate', 'enqueuedAt',
        'deferrals', 'attempts')
      if not f[1] or not f[3] then
        redis.call('DEL', job)
        orphans = orphans + 1
      else
        claimed = claimed + 1
        local token = ARGV[4] .. ':' .. claimed
        local attempts = (tonumber(f[8]) or 0) + 1
        redis.call('HSET', job, 'state', 'active', 'token', token, 'startedAt', now, 'attempts', attempts)
        redis.call('ZADD', active, leaseEnd, id)
        for _, v in ipairs({ id, token, f[1], f[2], attempts, f[3], f[4] or '', f[5] or '', f[6], f[7] or '0' }) do
          out[#out + 1] = v
        end
      end
    end
    -- Fewer than asked: ready is empty now. (Orphans among a full pop leave slots to fill: pop again.)
    if #popped < 2 * wanted then
      break
    end
  end
  if claimed < n then
    redis.call('SET', prefix .. 'idle', 1)
  end
end
out[3] = orphans

if out[2] ~= '' or #out > 3 then
  redis.call('SET', call, cjson.encode(out), 'PX', ARGV[3])
end
return out
