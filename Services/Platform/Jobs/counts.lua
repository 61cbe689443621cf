--[[ counts.lua: a consistent snapshot of a queue's sizes.
  KEYS     the six queue keys (see enqueue.lua): [1] ready [2] scheduled [3] active [4] dead
  Returns  { ready, scheduled (delayed or waiting to retry), active, dead }
]]
return { redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]) }
