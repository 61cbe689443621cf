--[[ heartbeat.lua: extend the leases of jobs still held, each checked against its lease token.
  KEYS     the six queue keys (see enqueue.lua): [3] active
  ARGV[1]  key prefix jobs:{<q>}:      ARGV[2]  lease, ms
  ARGV[3], ARGV[4], ...  pairs of job id and lease token
  Returns  one value per pair: 1 renewed; 0 the lease is lost (requeued by the reaper, cancelled, or gone):
           stop the work, its completion will be refused.
]]
local active = KEYS[3]
local prefix = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local leaseEnd = now + tonumber(ARGV[2])

local out = {}
for i = 3, #ARGV, 2 do
  -- The token exists only while the job is active under this lease.
  if redis.call('HGET', prefix .. 'job:' .. ARGV[i], 'token') == ARGV[i + 1] then
    redis.call('ZADD', active, leaseEnd, ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
