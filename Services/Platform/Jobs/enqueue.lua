--[[ enqueue.lua: add jobs to one queue (one job, or a batch of many in one call), each ready now or scheduled for
  later; for a known idempotency key, return the job already enqueued under it instead (a key that repeats inside
  the batch names the job its first occurrence enqueued, as it would across calls).
  KEYS (every Jobs script gets the same six, in JobKeys.All order; all share the queue's hash tag)
    [1] ready      jobs:{<q>}:ready      zset: job id by (maxPriority - priority) * 2^32 + sequence (lowest first)
    [2] scheduled  jobs:{<q>}:scheduled  zset: job id by the time it becomes due, ms
    [3] active     jobs:{<q>}:active     zset: job id by the end of its lease, ms
    [4] dead       jobs:{<q>}:dead       zset: job id by the time it died, ms
    [5] sequence   jobs:{<q>}:seq        counter: job ids and FIFO order within a priority
    [6] reaper     jobs:{<q>}:reaper     the reaper's once-per-interval guard
  ARGV[1]  key prefix jobs:{<q>}:  (job hashes are <prefix>job:<id>, idempotency keys <prefix>idem:<key>)
  ARGV[2]  queue name (job ids are <queue>-<epoch>-<sequence>)
  ARGV[3]  doorbell channel, rung at most once per call: when this call made a job ready and a worker has found the
           queue empty since the last ring (claim.lua marks that in <prefix>idle) or the sequence started again, or
           when a job of this call is due before every scheduled job that was there before it
  ARGV[4]  max priority
  ARGV[5]  a fresh random epoch (8 hex digits), used only if the queue needs a new one
  ARGV[6]  traceparent, or ''      ARGV[7]  tracestate, or ''   (of the enqueue span: the same for every job)
  then, for each job, 6 values from ARGV[8] on:
    type, payload (JSON, validated by the caller), priority (0..ARGV[4], higher runs first), delay in ms (0: ready
    now), max attempts, idempotency key or ''
  The epoch (<prefix>epoch) is replaced whenever the sequence starts again (a new queue, or a Redis that lost its
  data) or is itself gone: a job id never names two jobs, even across data loss, so an id kept elsewhere (a
  deployment row in SQLite) can never come to name a later, unrelated job.
  A job hash holds type, payload, priority, score, state, maxAttempts, enqueuedAt, and only when they have a value
  dueAt (a delayed job; else it is enqueuedAt), traceparent, tracestate, idem; attempts appears at its first claim.
  Commands: a GET (+ EXISTS) per idempotency key, then for the new jobs TIME, one INCRBY, one MGET (the epoch and
  the idle mark), one HSET each, one ZADD per set, one MSET of their idempotency keys, at most one PUBLISH (+ DEL
  of the idle mark).
  Returns  { id, created, id, created, ... } in the order of the jobs: created is 1 when enqueued, 0 when the
           idempotency key already named a live job (whose id is returned).
]]
local ready, scheduled, sequence = KEYS[1], KEYS[2], KEYS[5]
local prefix, queue, doorbell = ARGV[1], ARGV[2], ARGV[3]
local maxPriority = tonumber(ARGV[4])
local traceparent, tracestate = ARGV[6], ARGV[7]
-- Job j (from 0) is ARGV[at], ..., ARGV[at + 5] with at = FIRST + j * WIDTH; tables below are indexed by at.
local FIRST, WIDTH = 8, 6
local LAST = #ARGV - WIDTH + 1

-- Which jobs are new: a key that names a live job returns it; a key repeated in this call names the job of its
-- first occurrence. New jobs then take their sequence numbers with one INCRBY. A call that names no key (most) skips
-- this bookkeeping: its per-call tables are what a one-job enqueue spends most of its script time on otherwise.
local existing, sameAs, ids = nil, nil, nil
-- math.floor: an integer on every Lua (Garnet's is 5.4, where / gives a float that INCRBY refuses as '1.0').
local fresh = math.floor((#ARGV - FIRST + 1) / WIDTH)
for at = FIRST, LAST, WIDTH do
  if ARGV[at + 5] ~= '' then
    existing, sameAs, ids = {}, {}, {}
    break
  end
end
if existing then
  local firstWithKey = {}
  fresh = 0
  for at = FIRST, LAST, WIDTH do
    local key = ARGV[at + 5]
    local firstAt = key ~= '' and firstWithKey[key]
    if firstAt then
      if existing[firstAt] then
        existing[at] = existing[firstAt]
      else
        sameAs[at] = firstAt
      end
    else
      local id = key ~= '' and redis.call('GET', prefix .. 'idem:' .. key)
      if id and redis.call('EXISTS', prefix .. 'job:' .. id) == 1 then
        existing[at] = id
      else
        fresh = fresh + 1
      end
      if key ~= '' then
        firstWithKey[key] = at
      end
    end
  end
end

local now, seq, epoch, idle = 0, 0, nil, false
if fresh > 0 then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  seq = redis.call('INCRBY', sequence, fresh) - fresh
  local marks = redis.call('MGET', prefix .. 'epoch', prefix .. 'idle')
  epoch, idle = marks[1], marks[2]
  if seq == 0 or not epoch then
    epoch = ARGV[5]
    redis.call('SET', prefix .. 'epoch', epoch)
    -- A new queue, or a Redis that lost its data (and the idle mark with it): wake whoever waits.
    idle = true
  end
end

local readyAdds, scheduledAdds, idemSets = {}, nil, nil
local earliestNewDue = nil
local ring = nil
local reply = {}
for at = FIRST, LAST, WIDTH do
  local id = existing and (existing[at] or (sameAs[at] and ids[sameAs[at]]))
  if id then
    reply[#reply + 1] = id
    reply[#reply + 1] = 0
  else
    seq = seq + 1
    id = queue .. '-' .. epoch .. '-' .. seq
    local priority, delay, key = ARGV[at + 2], tonumber(ARGV[at + 3]), ARGV[at + 5]
    -- Lowest score first: higher priority -> smaller first term; then FIFO by sequence. Exact below 2^53.
    local score = string.format('%.0f', (maxPriority - tonumber(priority)) * 4294967296 + seq % 4294967296)
    local fields = { 'type', ARGV[at], 'payload', ARGV[at + 1], 'priority', priority, 'score', score,
      'state', delay > 0 and 'scheduled' or 'pending', 'maxAttempts', ARGV[at + 4], 'enqueuedAt', now }
    -- Empty values are left out: every reader takes a missing one for empty.
    if delay > 0 then
      fields[#fields + 1] = 'dueAt'
      fields[#fields + 1] = now + delay
    end
    if traceparent ~= '' then
      fields[#fields + 1] = 'traceparent'
      fields[#fields + 1] = traceparent
    end
    if tracestate ~= '' then
      fields[#fields + 1] = 'tracestate'
      fields[#fields + 1] = tracestate
    end
    if key ~= '' then
      fields[#fields + 1] = 'idem'
      fields[#fields + 1] = key
    end
    redis.call('HSET', prefix .. 'job:' .. id, unpack(fields))
    if delay > 0 then
      scheduledAdds = scheduledAdds or {}
      scheduledAdds[#scheduledAdds + 1] = now + delay
      scheduledAdds[#scheduledAdds + 1] = id
      if not earliestNewDue or now + delay < earliestNewDue then
        earliestNewDue = now + delay
      end
    else
      readyAdds[#readyAdds + 1] = score
      readyAdds[#readyAdds + 1] = id
      -- Only when a worker waits: otherwise workers are busy and claim again as soon as a slot frees.
      if idle then
        ring = ring or id
      end
    end
    if key ~= '' then
      idemSets = idemSets or {}
      idemSets[#idemSets + 1] = prefix .. 'idem:' .. key
      idemSets[#idemSets + 1] = id
    end
    if ids then
      ids[at] = id
    end
    reply[#reply + 1] = id
    reply[#reply + 1] = 1
  end
end

-- One command per set for the whole call (at most JobQueue.MaxBatchSize jobs: well inside Lua's unpack limit).
if earliestNewDue then
  -- Idle workers sleep until the earliest due time they know of, and must learn of an earlier one.
  local earliest = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
  if not earliest[2] or earliestNewDue < tonumber(earliest[2]) then
    ring = ring or scheduledAdds[2]
  end
  redis.call('ZADD', scheduled, unpack(scheduledAdds))
end
if #readyAdds > 0 then
  redis.call('ZADD', ready, unpack(readyAdds))
end
if idemSets then
  redis.call('MSET', unpack(idemSets))
end
if ring then
  redis.call('PUBLISH', doorbell, ring)
  if idle then
    -- Rung: the workers it wakes claim, and one that finds the queue empty again marks it again.
    redis.call('DEL', prefix .. 'idle')
  end
end
return reply
