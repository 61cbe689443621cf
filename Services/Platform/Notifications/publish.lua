--[[ publish.lua: one notification, in one round trip: number it, keep it, send it.
  KEYS[1]  sequence      notify:{events}:sequence          (INCR: the global event id; never expires)
  KEYS[2]  history       notify:{events}:history:<channel> (sorted set: event JSON scored by id, the last ARGV[5])
  KEYS[3]  trimmed       notify:{events}:trimmed           (hash: channel -> highest id dropped from its history)
  ARGV[1]  channel, e.g. deployment:status
  ARGV[2]  event type (the SSE event name), e.g. deployment_status
  ARGV[3]  payload, already JSON
  ARGV[4]  W3C traceparent of the publisher, or ''
  ARGV[5]  history length (100)
  ARGV[6]  pub/sub channel every notifier subscribes to
  Returns  { id, timestamp in Unix ms (the server's clock) }.
  The event is {"type","channel","id","timestamp","payload","traceparent"}. Ids grow in the order scripts run,
  which is the order PUBLISH delivers them, so a subscriber that sees id n+2 after n knows it missed n+1.
]]
local sequence, history, trimmed = KEYS[1], KEYS[2], KEYS[3]
local channel, kind, payload, traceparent = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local length = tonumber(ARGV[5])

local id = redis.call('INCR', sequence)
local time = redis.call('TIME')
local timestamp = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local event = '{"type":' .. cjson.encode(kind) ..
  ',"channel":' .. cjson.encode(channel) ..
  ',"id":' .. string.format('%d', id) ..
  ',"timestamp":' .. string.format('%d', timestamp) ..
  ',"payload":' .. payload ..
  ',"traceparent":' .. (traceparent == '' and 'null' or cjson.encode(traceparent)) .. '}'

redis.call('ZADD', history, id, event)
local excess = redis.call('ZCARD', history) - length
if excess > 0 then
  -- Remember the newest id dropped, so a reader resuming from before it knows the history has a hole.
  local dropped = redis.call('ZRANGE', history, excess - 1, excess - 1, 'WITHSCORES')
  redis.call('HSET', trimmed, channel, dropped[2])
  redis.call('ZREMRANGEBYRANK', history, 0, excess - 1)
end

redis.call('PUBLISH', ARGV[6], event)
return { id, timestamp }
