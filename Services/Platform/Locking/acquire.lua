--[[ acquire.lua: take a lock if it is free: one try, never queueing.
  KEYS[1]  the lock        lock:{<name>}          (string: the holder's entry, then the waiters' in arrival order,
                                                   space-separated; each entry <owner>:<lease ms>, a handed-over
                                                   holder's with #<token>; expires with the holder's lease)
  KEYS[2]  fence counter   lock:{<name>}:fence    (never expires)
  ARGV[1]  owner token (random per acquisition)
  ARGV[2]  lease, ms
  Returns  { 1, fencing token } when taken; { 0, ms left on the current holder's lease } when held.
]]
--@include fence-block.lua
if redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'NX', 'PX', ARGV[2]) then
  return { 1, take_block(KEYS[2]) }
end
return { 0, redis.call('PTTL', KEYS[1]) }
