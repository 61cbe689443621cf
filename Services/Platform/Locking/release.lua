--[[ release.lua: free the lock, only for its holder, handing it to the longest waiter if any (and waking only it).
  KEYS[1]  the lock        lock:{<name>}          (layout: acquire.lua)
  KEYS[2]  fence counter   lock:{<name>}:fence
  ARGV[1]  owner token     ARGV[2]  the holder's fencing token
  ARGV[3]  the hand-over channel (lock:handoffs): the message is '<next owner> <its fencing token>'
  Returns  1 if released (or handed over); 0 if it was not ours (expired, or taken by another): nothing changes then.
]]
--@include fence-block.lua
local lock, prefix = KEYS[1], ARGV[1] .. ':'

-- GETDEL, not GET then DEL: the common release (ours, nobody waiting) is one command.
local value = redis.call('GETDEL', lock)
if not value then
  return 0
end
local head_end = string.find(value, ' ', 1, true)
if string.sub(value, 1, #prefix) ~= prefix then
  -- Another holder's lock: put it back. Its remaining lease is unknown here, so it gets its whole lease again: it
  -- may be held a little longer than its holder counts on, never shorter. Only a holder that lost its lock gets here.
  local head = head_end and string.sub(value, 1, head_end - 1) or value
  redis.call('SET', lock, value, 'PX', string.match(head, ':(%d+)'))
  return 0
end
if not head_end then
  return 1
end

local next_end = string.find(value, ' ', head_end + 1, true)
local next_entry = string.sub(value, head_end + 1, next_end and next_end - 1 or -1)
local next_owner, next_lease = string.match(next_entry, '^([^:]+):(%d+)$')
local token = string.format('%d', handoff_token(KEYS[2], tonumber(ARGV[2])))
redis.call('SET', lock, next_entry .. '#' .. token .. (next_end and string.sub(value, next_end) or ''), 'PX', next_lease)
redis.call('PUBLISH', ARGV[3], next_owner .. ' ' .. token)
return 1
