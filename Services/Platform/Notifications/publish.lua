--[[ publish.lua: one notification, in one round trip: number it, keep it, send it.
  KEYS[1]  sequence      notify:{events}:sequence          (INCR: the event id within the epoch; never expires)
  KEYS[2]  history       notify:{events}:history:<channel> (sorted set: event JSON scored by id, the last ARGV[5])
  KEYS[3]  trimmed       notify:{events}:trimmed           (hash: channel -> highest id dropped from its history;
                                                             field 'topics' -> highest score dropped from KEYS[5])
  KEYS[4]  epoch         notify:{events}:epoch             (random token naming this life of the data; never expires)
  KEYS[5]  topics        notify:{events}:trimmed-topics    (sorted set: '<channel>|<projectId>' -> highest id of
                                                             that topic dropped from its history; the newest ARGV[9] kept)
  KEYS[6]  dedupe        notify:{events}:published:<key>   (only when ARGV[8] is not '': the event an earlier
                                                             publish with the same key produced)
  ARGV[1]  channel, e.g. deployment:status
  ARGV[2]  event type (the SSE event name), e.g. deployment_status
  ARGV[3]  payload, already JSON
  ARGV[4]  W3C traceparent of the publisher, or ''
  ARGV[5]  history length (100)
  ARGV[6]  pub/sub channel every notifier subscribes to
  ARGV[7]  a fresh random epoch, used only if KEYS[4] does not exist (Redis lost its data, or the first publish)
  ARGV[8]  dedupe key, or '': a publish repeated with the same key (an outbox re-dispatching after a crash)
           returns the first one's id and publishes nothing
  ARGV[9]  trimmed topics kept (10000)       ARGV[10]  how long a dedupe key is remembered, ms
  ARGV[11] SPUBLISH (sharded pub/sub, on a cluster: ARGV[6] shares KEYS' hash tag) or PUBLISH
  Returns  { id, timestamp in Unix ms (the server's clock), epoch, 1 if published now or 0 if deduplicated }.
  The event is {"type","channel","epoch","id","timestamp","payload","traceparent"}. Ids grow in the order scripts
  run, which is the order PUBLISH delivers them, so a subscriber that sees id n+2 after n knows it missed n+1. A
  Redis that comes back empty starts the ids again at 1 under a new epoch: (epoch, id) never repeats.
]]
local sequence, history, trimmed, epochKey, topics = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local channel, kind, payload, traceparent = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local length, topicsKept = tonumber(ARGV[5]), tonumber(ARGV[9])

-- SET NX in effect; one GET on the usual path, where the epoch exists.
local epoch = redis.call('GET', epochKey)
if not epoch then
  epoch = ARGV[7]
  redis.call('SET', epochKey, epoch)
end

if ARGV[8] ~= '' then
  local earlier = redis.call('GET', KEYS[6])
  if earlier then
    local sep = string.find(earlier, ':', 1, true)
    return { tonumber(string.sub(earlier, 1, sep - 1)), tonumber(string.sub(earlier, sep + 1)), epoch, 0 }
  end
end

local id = redis.call('INCR', sequence)
local time = redis.call('TIME')
local timestamp = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local event = '{"type":' .. cjson.encode(kind) ..
  ',"channel":' .. cjson.encode(channel) ..
  ',"epoch":' .. cjson.encode(epoch) ..
  ',"id":' .. string.format('%d', id) ..
  ',"timestamp":' .. string.format('%d', timestamp) ..
  ',"payload":' .. payload ..
  ',"traceparent":' .. (traceparent == '' and 'null' or cjson.encode(traceparent)) .. '}'

redis.call('ZADD', history, id, event)
local excess = redis.call('ZCARD', history) - length
if excess > 0 then
  -- Remember the newest id dropped, so a reader resuming from before it knows the history has a hole; and per
  -- topic (channel and project), so that a reader who could not have seen the dropped events is not told so.
  local dropped = redis.call('ZRANGE', history, 0, excess - 1, 'WITHSCORES')
  for i = 1, #dropped, 2 do
    local ok, decoded = pcall(cjson.decode, dropped[i])
    local project = ''
    if ok and type(decoded.payload) == 'table' then
      local p = decoded.payload.projectId
      if type(p) == 'number' then
        project = string.format('%d', p)
      elseif type(p) == 'string' then
        project = p
      end
    end
    redis.call('ZADD', topics, dropped[i + 1], channel .. '|' .. project)
  end
  redis.call('HSET', trimmed, channel, dropped[#dropped])
  redis.call('ZREMRANGEBYRANK', history, 0, excess - 1)
  local topicsExcess = redis.call('ZCARD', topics) - topicsKept
  if topicsExcess > 0 then
    local forgotten = redis.call('ZRANGE', topics, topicsExcess - 1, topicsExcess - 1, 'WITHSCORES')
    redis.call('HSET', trimmed, 'topics', forgotten[2])
    redis.call('ZREMRANGEBYRANK', topics, 0, topicsExcess - 1)
  end
end

if ARGV[8] ~= '' then
  redis.call('SET', KEYS[6], string.format('%d', id) .. ':' .. string.format('%d', timestamp), 'PX', ARGV[10])
end
redis.call(ARGV[11] == 'SPUBLISH' and 'SPUBLISH' or 'PUBLISH', ARGV[6], event)
return { id, timestamp, epoch, 1 }
