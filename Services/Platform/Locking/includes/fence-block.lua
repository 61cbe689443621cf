-- Fencing tokens come in blocks of 1024: taking a free lock reserves a block (one INCRBY of the never-expiring
-- counter) and its holder gets the block's first token; each hand-off to a waiter gives the next token of the same
-- block, so a hand-off writes nothing to the counter until a block is used up. Every token of a block is below the
-- counter's next value, so a token is always greater than every token handed out before, even when a holder dies.
local FENCE_BLOCK = 1024

local function take_block(fence)
  return redis.call('INCRBY', fence, FENCE_BLOCK)
end

local function handoff_token(fence, held)
  local token = held + 1
  if token % FENCE_BLOCK == 0 then
    return take_block(fence)
  end
  return token
end
