--[[ includes/session-profile.lua: a session's profile, the fields that change rarely, kept as one JSON field `p`
  ({"sid","uid","email","name","roles","tier","ua","created"}) so the common validation reads three fields, not ten.
  session_profile(session) returns that JSON, or nil when the session is gone. A session written before this
  layout (each of those fields on its own, `last` and `abs` as now) is moved into it first, in place: its TTL,
  `last` and `abs` stay as they are, so sessions live across an upgrade.
]]
local function upgrade_profile(session)
  -- Built here, not once at the top: every validation would pay for a table only an upgrade reads.
  local PROFILE_FIELDS = { 'sid', 'uid', 'email', 'name', 'roles', 'tier', 'ua', 'created' }
  local old = redis.call('HMGET', session, unpack(PROFILE_FIELDS))
  if not old[1] then
    return nil
  end
  local profile = {}
  for i, field in ipairs(PROFILE_FIELDS) do
    profile[field] = old[i] or ''
  end
  profile.created = tonumber(profile.created) or 0
  local p = cjson.encode(profile)
  redis.call('HSET', session, 'p', p)
  redis.call('HDEL', session, unpack(PROFILE_FIELDS))
  return p
end

local function session_profile(session)
  return redis.call('HGET', session, 'p') or upgrade_profile(session)
end
