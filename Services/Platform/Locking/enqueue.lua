--[[ enqueue.lua: take a lock if it is free, else join its line (first come, first served).
  KEYS[1]  the lock        lock:{<name>}          (layout: acquire.lua)
  KEYS[2]  fence counter   lock:{<name>}:fence
  ARGV[1]  owner token     ARGV[2]  lease, ms: the holder's lease once the lock is handed over
  ARGV[3]  '1': try to take it first; '0': join first (the caller has seen it held: one command fewer then)
  Returns  { 1, fencing token } when taken; { 0 } when in line: release.lua hands it over and announces it.
]]
--@include fence-block.lua
local lock, entry = KEYS[1], ARGV[1] .. ':' .. ARGV[2]

if ARGV[3] == '1' then
  if redis.call('SET', lock, entry, 'NX', 'PX', ARGV[2]) then
    return { 1, take_block(KEYS[2]) }
  end
  redis.call('APPEND', lock, ' ' .. entry)
  return { 0 }
end

-- APPEND keeps the holder's lease; on a free lock it creates one without a lease: then take it properly.
if redis.call('APPEND', lock, ' ' .. entry) == #entry + 1 then
  redis.call('SET', lock, entry, 'PX', ARGV[2])
  return { 1, take_block(KEYS[2]) }
end
return { 0 }
