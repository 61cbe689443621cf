--[[ list-dead.lua: the oldest dead-lettered jobs of a queue, with what killed them, for an operator to read.
  KEYS     the six queue keys (see enqueue.lua): [4] dead
  ARGV[1]  key prefix jobs:{<q>}:      ARGV[2]  most jobs to return
  Returns  { total dead, { id, type, attempts, maxAttempts, error, diedAt ms }... } oldest death first. A dead id
           whose hash is gone (it never should be: dead jobs do not expire) is returned with empty fields.
]]
local dead = KEYS[4]
local prefix = ARGV[1]

local reply = { redis.call('ZCARD', dead) }
for _, id in ipairs(redis.call('ZRANGE', dead, 0, tonumber(ARGV[2]) - 1)) do
  local f = redis.call('HMGET', prefix .. 'job:' .. id, 'type', 'attempts', 'maxAttempts', 'error', 'finishedAt')
  reply[#reply + 1] = { id, f[1] or '', f[2] or '0', f[3] or '0', f[4] or '', f[5] or '0' }
end
return reply
