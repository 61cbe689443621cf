--[[ read-since.lua: the events after a position (epoch, id), from the histories of some channels, in one consistent read.
  KEYS[1]     sequence   notify:{events}:sequence
  KEYS[2]     trimmed    notify:{events}:trimmed
  KEYS[3]     epoch      notify:{events}:epoch
  KEYS[4]     topics     notify:{events}:trimmed-topics
  KEYS[5..n]  history    notify:{events}:history:<channel>, one per channel read (none: just the position)
  ARGV[1]     the reader's epoch, or '' for the current one (a bare id)
  ARGV[2]     the last id the reader has in that epoch (exclusive lower bound); 0 for everything kept
  ARGV[3]     a fresh random epoch, used only if KEYS[3] does not exist
  ARGV[4..]   the channel names, in the order of KEYS[5..n]
  Returns  { epoch, sequence, outcome, { topics }, { events of KEYS[5] }, { events of KEYS[6] }, ... }, each list
  in id order.
  outcome 1 (complete): every event after ARGV[2] on these channels is in the lists.
  outcome 0 (lost): ARGV[1] names another epoch, or ARGV[2] is newer than the sequence (Redis lost its data), or
    trimmed topics are not known that far back; the lists hold each channel's whole history, to start over.
  outcome 2 (trimmed): events after ARGV[2] were trimmed; topics lists each '<channel>|<projectId>' that lost one,
    and the lists hold each channel's whole history. The reader decides: if it could have seen any of those
    topics it starts over, else it keeps the events after ARGV[2].
]]
local sequenceKey, trimmed, epochKey, topics = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
-- SET NX in effect; one GET on the usual path, where the epoch exists.
local epoch = redis.call('GET', epochKey)
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', epochKey, epoch)
end
local sequence = tonumber(redis.call('GET', sequenceKey) or '0')
local after = tonumber(ARGV[2])

local outcome = 1
if (ARGV[1] ~= '' and ARGV[1] ~= epoch) or after > sequence then
  outcome = 0
else
  for i = 5, #KEYS do
    local dropped = redis.call('HGET', trimmed, ARGV[i - 1])
    if dropped and tonumber(dropped) > after then
      outcome = 2
      break
    end
  end
  if outcome == 2 and tonumber(redis.call('HGET', trimmed, 'topics') or '0') > after then
    outcome = 0
  end
end

local lost = {}
if outcome == 2 then
  lost = redis.call('ZRANGEBYSCORE', topics, '(' .. ARGV[2], '+inf')
end

local result = { epoch, sequence, outcome, lost }
for i = 5, #KEYS do
  if outcome == 1 then
    result[#result + 1] = redis.call('ZRANGEBYSCORE', KEYS[i], '(' .. ARGV[2], '+inf')
  else
    result[#result + 1] = redis.call('ZRANGE', KEYS[i], 0, -1)
  end
end
return result
