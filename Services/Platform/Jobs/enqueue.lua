--[[ enqueue.lua: add a job to a queue, ready now or scheduled for later; or, for a known idempotency key,
  return the job already enqueued under it.
  KEYS (every Jobs script gets the same six, in JobKeys.All order; all share the queue's hash tag)
    [1] ready      jobs:{<q>}:ready      zset: job id by (maxPriority - priority) * 2^32 + sequence (lowest first)
    [2] scheduled  jobs:{<q>}:scheduled  zset: job id by the time it becomes due, ms
    [3] active     jobs:{<q>}:active     zset: job id by the end of its lease, ms
    [4] dead       jobs:{<q>}:dead       zset: job id by the time it died, ms
    [5] sequence   jobs:{<q>}:seq        counter: job ids and FIFO order within a priority
    [6] reaper     jobs:{<q>}:reaper     the reaper's once-per-interval guard
  ARGV[1]  key prefix jobs:{<q>}:  (job hashes are <prefix>job:<id>, idempotency keys <prefix>idem:<key>)
  ARGV[2]  queue name (job ids are <queue>-<epoch>-<sequence>)
  ARGV[3]  type           ARGV[4]  payload (JSON, validated by the caller)
  ARGV[5]  priority (0..ARGV[12], higher runs first)          ARGV[6]  delay, ms (0: ready now)
  ARGV[7]  max attempts   ARGV[8]  idempotency key, or ''
  ARGV[9]  traceparent, or ''      ARGV[10] tracestate, or ''
  ARGV[11] doorbell channel, rung when the queue was empty or this job is the next one due
  ARGV[12] max priority
  ARGV[13] a fresh random epoch (8 hex digits), used only if the queue needs a new one
  The epoch (<prefix>epoch) is replaced whenever the sequence starts again (a new queue, or a Redis that lost its
  data) or is itself gone: a job id never names two jobs, even across data loss, so an id kept elsewhere (a
  deployment row in SQLite) can never come to name a later, unrelated job.
  Returns  { job id, 1 } when enqueued; { existing job id, 0 } when the idempotency key already named a live job.
]]
local ready, scheduled, sequence = KEYS[1], KEYS[2], KEYS[5]
local prefix = ARGV[1]

local idem = ''
if ARGV[8] ~= '' then
  idem = prefix .. 'idem:' .. ARGV[8]
  local existing = redis.call('GET', idem)
  if existing and redis.call('EXISTS', prefix .. 'job:' .. existing) == 1 then
    return { existing, 0 }
  end
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local seq = redis.call('INCR', sequence)
local epochKey = prefix .. 'epoch'
local epoch = redis.call('GET', epochKey)
if seq == 1 or not epoch then
  epoch = ARGV[13]
  redis.call('SET', epochKey, epoch)
end
local id = ARGV[2] .. '-' .. epoch .. '-' .. seq
-- Lowest score first: higher priority -> smaller first term; then FIFO by sequence. Exact below 2^53.
local score = string.format('%.0f', (tonumber(ARGV[12]) - tonumber(ARGV[5])) * 4294967296 + seq % 4294967296)
local delay = tonumber(ARGV[6])
local state = 'pending'
if delay > 0 then
  state = 'scheduled'
end

redis.call('HSET', prefix .. 'job:' .. id,
  'id', id, 'type', ARGV[3], 'payload', ARGV[4], 'priority', ARGV[5], 'score', score,
  'state', state, 'attempts', 0, 'maxAttempts', ARGV[7], 'enqueuedAt', now, 'dueAt', now + delay,
  'traceparent', ARGV[9], 'tracestate', ARGV[10], 'idem', ARGV[8])

if delay > 0 then
  -- Ring when this job is due before every other scheduled one: idle workers sleep until the earliest due time
  -- they know of, and must learn of an earlier one.
  local first = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
  if not first[2] or now + delay < tonumber(first[2]) then
    redis.call('PUBLISH', ARGV[11], id)
  end
  redis.call('ZADD', scheduled, now + delay, id)
else
  -- Ring only when the queue was empty: otherwise workers are busy and claim again as soon as a slot frees.
  if redis.call('ZCARD', ready) == 0 then
    redis.call('PUBLISH', ARGV[11], id)
  end
  redis.call('ZADD', ready, score, id)
end
if idem ~= '' then
  redis.call('SET', idem, id)
end
return { id, 1 }
