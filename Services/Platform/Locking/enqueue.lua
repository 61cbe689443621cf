--[[ enqueue.lua: take a lock if it is free, else join its line (first come, first served).
  KEYS[1]  the lock        lock:{<name>}          (string: the holder's entry, then the waiters' in arrival order,
                                                   space-separated; each entry <owner>:<lease ms>; expires with the
                                                   holder's lease. A free lock is taken by a plain SET NX PX.)
  ARGV[1]  owner token     ARGV[2]  lease, ms: the holder's lease once the lock is handed over
  ARGV[3]  '1': try to take it first; '0': join first (the caller has seen it held: one command fewer then)
  Returns  1 when taken; 0 when in line: release.lua hands it over and announces it.
]]
local lock, entry = KEYS[1], ARGV[1] .. ':' .. ARGV[2]

if ARGV[3] == '1' then
  if redis.call('SET', lock, entry, 'NX', 'PX', ARGV[2]) then
    return 1
  end
  redis.call('APPEND', lock, ' ' .. entry)
  return 0
end

-- APPEND keeps the holder's lease; on a free lock it creates one without a lease: then take it properly.
if redis.call('APPEND', lock, ' ' .. entry) == #entry + 1 then
  redis.call('SET', lock, entry, 'PX', ARGV[2])
  return 1
end
return 0
