--[[ read-since.lua: the events after an id, from the histories of some channels, in one consistent read.
  KEYS[1]     sequence   notify:{events}:sequence
  KEYS[2]     trimmed    notify:{events}:trimmed
  KEYS[3..n]  history    notify:{events}:history:<channel>, one per channel read
  ARGV[1]     the last id the reader has (exclusive lower bound); 0 for everything kept
  ARGV[2..]   the channel names, in the order of KEYS[3..n]
  Returns  { current sequence, complete, { events of KEYS[3] }, { events of KEYS[4] }, ... }, each list in id order.
  complete = 1: every event after ARGV[1] on these channels is in the lists.
  complete = 0: some were trimmed away, or ARGV[1] is newer than the sequence (the data was lost, e.g. a Redis
  restart without persistence); the lists then hold each channel's whole history, for a reader to start over.
]]
local sequence = tonumber(redis.call('GET', KEYS[1]) or '0')
local after = tonumber(ARGV[1])

local complete = 1
if after > sequence then
  complete = 0
else
  for i = 3, #KEYS do
    local dropped = redis.call('HGET', KEYS[2], ARGV[i - 1])
    if dropped and tonumber(dropped) > after then
      complete = 0
      break
    end
  end
end

local result = { sequence, complete }
for i = 3, #KEYS do
  if complete == 1 then
    result[#result + 1] = redis.call('ZRANGEBYSCORE', KEYS[i], '(' .. ARGV[1], '+inf')
  else
    result[#result + 1] = redis.call('ZRANGE', KEYS[i], 0, -1)
  end
end
return result
