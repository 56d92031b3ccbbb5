-- What requests did, in order, in one round trip.
-- ARGV: prefix, this instance, then operations:
--   S user key usage held quota_held charged: settled; the holds go, the
--     charge is taken from the balance and the key's spend and kept as
--     pending until the usage writer has written it
--   R user key held quota_held: released without a charge
--   W user key usage: written to the ledger
--   T window interval_us tokens: tokens used, for a tokens-per-minute window
--   F account: an account that may be wrong goes, to be loaded again
--   B presence user at_ms keep_ms: a user was seen at a time (the latest
--     counts); beats older than keep_ms go
local prefix, me = ARGV[1], ARGV[2]
local hold = 'h:' .. me

local function release(account, amount)
  if amount > 0 and redis.call('HINCRBY', account, hold, -amount) <= 0 then
    redis.call('HDEL', account, hold)
  end
end

local function charge(account, field, amount, pending, usage)
  if amount == 0 then return end
  if redis.call('HEXISTS', account, field) == 1 then
    redis.call('HINCRBY', account, field, amount)
  end
  redis.call('HSET', pending, usage, math.abs(amount))
end

local now = nil
local i = 3
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'S' then
    local user, key, usage = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local charged = tonumber(ARGV[i + 6])
    release(prefix .. 'w:' .. user, tonumber(ARGV[i + 4]))
    release(prefix .. 'q:' .. key, tonumber(ARGV[i + 5]))
    charge(prefix .. 'w:' .. user, 'balance', -charged, prefix .. 'p:' .. user, usage)
    charge(prefix .. 'q:' .. key, 'spent', charged, prefix .. 'pk:' .. key, usage)
    i = i + 7
  elseif op == 'R' then
    release(prefix .. 'w:' .. ARGV[i + 1], tonumber(ARGV[i + 3]))
    release(prefix .. 'q:' .. ARGV[i + 2], tonumber(ARGV[i + 4]))
    i = i + 5
  elseif op == 'W' then
    redis.call('HDEL', prefix .. 'p:' .. ARGV[i + 1], ARGV[i + 3])
    redis.call('HDEL', prefix .. 'pk:' .. ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'T' then
    if not now then
      local t = redis.call('TIME')
      now = tonumber(t[1]) * 1000000 + tonumber(t[2])
    end
    local window, interval = ARGV[i + 1], tonumber(ARGV[i + 2])
    local tat = math.max(tonumber(redis.call('GET', window) or now), now)
    tat = tat + interval * tonumber(ARGV[i + 3])
    redis.call('SET', window, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
    i = i + 4
  elseif op == 'B' then
    local at = tonumber(ARGV[i + 3])
    redis.call('ZADD', ARGV[i + 1], 'GT', at, ARGV[i + 2])
    redis.call('ZREMRANGEBYSCORE', ARGV[i + 1], '-inf', at - tonumber(ARGV[i + 4]))
    i = i + 5
  elseif op == 'F' then
    redis.call('DEL', ARGV[i + 1])
    i = i + 2
  else
    return redis.error_reply('unknown operation ' .. op)
  end
end
return 0
