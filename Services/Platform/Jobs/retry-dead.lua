--[[ retry-dead.lua: give dead-lettered jobs a fresh set of attempts: back to ready, oldest death first.
  KEYS     the six queue keys (see enqueue.lua): [1] ready [4] dead
  ARGV[1]  key prefix jobs:{<q>}:      ARGV[2]  most jobs to move in one call
  ARGV[3]  doorbell channel            ARGV[4]  one job id, or '' for all (up to ARGV[2])
  Returns  how many dead ids were taken (moved back to ready, or dropped as orphans); call again while it returns ARGV[2].
]]
local ready, dead = KEYS[1], KEYS[4]
local prefix = ARGV[1]

local ids
if ARGV[4] ~= '' then
  ids = {}
  if redis.call('ZSCORE', dead, ARGV[4]) then
    ids[1] = ARGV[4]
  end
else
  ids = redis.call('ZRANGE', dead, 0, tonumber(ARGV[2]) - 1)
end

for _, id in ipairs(ids) do
  local job = prefix .. 'job:' .. id
  local score = redis.call('HGET', job, 'score')
  if score then
    redis.call('HSET', job, 'state', 'pending', 'attempts', 0)
    redis.call('HDEL', job, 'finishedAt')
    redis.call('ZADD', ready, score, id)
  else
    redis.call('DEL', job) -- an orphan (its hash gone): dropped from dead, not revived as a partial hash
  end
end
if #ids > 0 then
  redis.call('ZREM', dead, unpack(ids))
  redis.call('PUBLISH', ARGV[3], 'retry-dead')
end
return #ids
