--[[ release.lua: free the lock, only for its holder, handing it to the longest waiter if any (and waking only it).
  KEYS[1]  the lock        lock:{<name>}          (layout: enqueue.lua)
  ARGV[1]  owner token     ARGV[2]  the hand-over channel (lock:handoffs): the message is the next owner's token
  Returns  1 if released (or handed over); 0 if it was not ours (expired, or taken by another): nothing changes then.
]]
local lock, prefix = KEYS[1], ARGV[1] .. ':'

-- GET before any write: a holder that lost the lock leaves the next holder's entry, line and lease as they are.
local value = redis.call('GET', lock)
if not value or string.sub(value, 1, #prefix) ~= prefix then
  return 0
end
local head_end = string.find(value, ' ', 1, true)
if not head_end then
  redis.call('DEL', lock)
  return 1
end

-- The longest waiter becomes the holder, with its own lease from now; the rest of the line stays behind it.
local next_end = string.find(value, ' ', head_end + 1, true)
local next_entry = string.sub(value, head_end + 1, next_end and next_end - 1 or -1)
local next_owner, next_lease = string.match(next_entry, '^([^:]+):(%d+)$')
redis.call('SET', lock, string.sub(value, head_end + 1), 'PX', next_lease)
redis.call('PUBLISH', ARGV[2], next_owner)
return 1
