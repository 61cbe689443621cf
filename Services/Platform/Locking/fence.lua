--[[ fence.lua: issue the holder its fencing token, only while it holds the lock (asked once per holding, on demand).
  KEYS[1]  the lock        lock:{<name>}          (layout: enqueue.lua)
  KEYS[2]  fence counter   lock:{<name>}:fence    (never expires)
  ARGV[1]  owner token
  Returns  the token: the counter's next value; 0 if the caller no longer holds the lock (it gets LockLost instead).
  Why tokens grow across holders: a token is issued while its holder holds the lock, holdings never overlap, and the
  counter only grows, so every token of a later holder is above every token of an earlier one.
]]
local prefix = ARGV[1] .. ':'
local value = redis.call('GET', KEYS[1])
if not value or string.sub(value, 1, #prefix) ~= prefix then
  return 0
end
return redis.call('INCR', KEYS[2])
