-- What requests did, in order, in one round trip. A batch applies once: a
-- retry of one whose answer was lost (it ran, the reply did not arrive)
-- changes nothing.
-- ARGV: prefix, this instance, the batch's number, then operations:
--   S user key usage hold charged: settled; the holds go, the charge is
--     taken from the balance and the key's spend and kept as pending until
--     the usage writer has written it
--   R user key hold: released without a charge
--   W user key usage: written to the ledger
--   T window interval_us tokens: tokens used, for a tokens-per-minute window
--   F account: an account that may be wrong is loaded again (its balance
--     and entry go; its holds stay)
--   B presence user at_ms keep_ms: a user was seen at a time (the latest
--     counts); beats older than keep_ms go
local prefix, me = ARGV[1], ARGV[2]
local arity = { S = 5, R = 3, W = 3, T = 3, F = 1, B = 4 }
-- Every operation is read before any is applied: a batch that cannot be
-- read changes nothing.
local i = 4
while i <= #ARGV do
  local n = arity[ARGV[i]]
  if not n then return redis.error_reply('unknown operation ' .. ARGV[i]) end
  i = i + 1 + n
end
if i ~= #ARGV + 1 then return redis.error_reply('a truncated operation') end
-- This instance sends its batches one at a time, in order: one it has
-- applied before is one numbered at most the last applied.
local applied = prefix .. 'b:' .. me
if tonumber(redis.call('GET', applied) or '0') >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', applied, ARGV[3], 'PX', 3600000)

local function hold(request) return 'h:' .. me .. ':' .. request end

local function charge(account, field, amount, pending, usage)
  if amount == 0 then return end
  if redis.call('HEXISTS', account, field) == 1 then
    redis.call('HINCRBY', account, field, amount)
  end
  redis.call('HSET', pending, usage, math.abs(amount))
end

local now = nil
i = 4
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'S' then
    local user, key, usage = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local wallet, quota = prefix .. 'w:' .. user, prefix .. 'q:' .. key
    local charged = tonumber(ARGV[i + 5])
    redis.call('HDEL', wallet, hold(ARGV[i + 4]))
    redis.call('HDEL', quota, hold(ARGV[i + 4]))
    charge(wallet, 'balance', -charged, prefix .. 'p:' .. user, usage)
    charge(quota, 'spent', charged, prefix .. 'pk:' .. key, usage)
  elseif op == 'R' then
    redis.call('HDEL', prefix .. 'w:' .. ARGV[i + 1], hold(ARGV[i + 3]))
    redis.call('HDEL', prefix .. 'q:' .. ARGV[i + 2], hold(ARGV[i + 3]))
  elseif op == 'W' then
    redis.call('HDEL', prefix .. 'p:' .. ARGV[i + 1], ARGV[i + 3])
    redis.call('HDEL', prefix .. 'pk:' .. ARGV[i + 2], ARGV[i + 3])
  elseif op == 'T' then
    if not now then
      local t = redis.call('TIME')
      now = tonumber(t[1]) * 1000000 + tonumber(t[2])
    end
    local window, interval = ARGV[i + 1], tonumber(ARGV[i + 2])
    local tat = math.max(tonumber(redis.call('GET', window) or now), now)
    tat = tat + interval * tonumber(ARGV[i + 3])
    redis.call('SET', window, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
  elseif op == 'F' then
    redis.call('HDEL', ARGV[i + 1], 'balance', 'entry', 'spent')
  elseif op == 'B' then
    local at = tonumber(ARGV[i + 3])
    redis.call('ZADD', ARGV[i + 1], 'GT', at, ARGV[i + 2])
    redis.call('ZREMRANGEBYSCORE', ARGV[i + 1], '-inf', at - tonumber(ARGV[i + 4]))
  end
  i = i + 1 + arity[op]
end
return 0
