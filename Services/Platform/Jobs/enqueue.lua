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
  ARGV[3]  doorbell channel, rung at most once per call: when the queue was empty and this call made a job ready, or
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
  Returns  { id, created, id, created, ... } in the order of the jobs: created is 1 when enqueued, 0 when the
           idempotency key already named a live job (whose id is returned).
]]
local ready, scheduled, sequence = KEYS[1], KEYS[2], KEYS[5]
local prefix, queue, doorbell = ARGV[1], ARGV[2], ARGV[3]
local maxPriority = tonumber(ARGV[4])
local traceparent, tracestate = ARGV[6], ARGV[7]
local first, width = 8, 6

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local epochKey = prefix .. 'epoch'
local epoch = redis.call('GET', epochKey)
local readyWasEmpty = redis.call('ZCARD', ready) == 0
local firstDue = nil -- the earliest due time scheduled before this call, read once when a delayed job needs it
local ring = nil

local reply = {}
for at = first, #ARGV, width do
  local jobType, payload, priority, delay, maxAttempts, key =
    ARGV[at], ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3]), ARGV[at + 4], ARGV[at + 5]

  local existing = nil
  local idem = ''
  if key ~= '' then
    idem = prefix .. 'idem:' .. key
    existing = redis.call('GET', idem)
    if existing and redis.call('EXISTS', prefix .. 'job:' .. existing) == 0 then
      existing = nil
    end
  end

  if existing then
    reply[#reply + 1] = existing
    reply[#reply + 1] = 0
  else
    local seq = redis.call('INCR', sequence)
    if seq == 1 or not epoch then
      epoch = ARGV[5]
      redis.call('SET', epochKey, epoch)
    end
    local id = queue .. '-' .. epoch .. '-' .. seq
    -- Lowest score first: higher priority -> smaller first term; then FIFO by sequence. Exact below 2^53.
    local score = string.format('%.0f', (maxPriority - tonumber(priority)) * 4294967296 + seq % 4294967296)
    local state = 'pending'
    if delay > 0 then
      state = 'scheduled'
    end
    redis.call('HSET', prefix .. 'job:' .. id,
      'id', id, 'type', jobType, 'payload', payload, 'priority', priority, 'score', score,
      'state', state, 'attempts', 0, 'maxAttempts', maxAttempts, 'enqueuedAt', now, 'dueAt', now + delay,
      'traceparent', traceparent, 'tracestate', tracestate, 'idem', key)

    if delay > 0 then
      -- Idle workers sleep until the earliest due time they know of, and must learn of an earlier one.
      if firstDue == nil then
        local earliest = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
        firstDue = tonumber(earliest[2]) or math.huge
      end
      if now + delay < firstDue then
        ring = ring or id
      end
      redis.call('ZADD', scheduled, now + delay, id)
    else
      -- Only when the queue was empty: otherwise workers are busy and claim again as soon as a slot frees.
      if readyWasEmpty then
        ring = ring or id
      end
      redis.call('ZADD', ready, score, id)
    end
    if idem ~= '' then
      redis.call('SET', idem, id)
    end
    reply[#reply + 1] = id
    reply[#reply + 1] = 1
  end
end

if ring then
  redis.call('PUBLISH', doorbell, ring)
end
return reply
