--[[ includes/prune-expired.lua: prune_expired(index, expiries, prefix, now, limit) drops the index entries of a
  user's sessions that have ended (idle or absolute expiry) by now: the hash index, the expiry set, and the session
  key if anything is left of it. At most `limit` of them (nil: all). Returns how many.
  Every entry is pruned once, and every sign-in prunes, so an index holds at most the live sessions plus those that
  ended since the last sign-in: never more than the cap on live sessions plus one.
]]
local function prune_expired(index, expiries, prefix, now, limit)
  local ended
  if limit then
    ended = redis.call('ZRANGEBYSCORE', expiries, '-inf', now, 'LIMIT', 0, limit)
  else
    ended = redis.call('ZRANGEBYSCORE', expiries, '-inf', now)
  end
  for i = 1, #ended do
    local hash = redis.call('HGET', index, ended[i])
    if hash then
      redis.call('UNLINK', prefix .. hash)
      redis.call('HDEL', index, ended[i])
    end
    redis.call('ZREM', expiries, ended[i])
  end
  return #ended
end
