-- Takes a request's rate-limit windows, then reserves its worst case on
-- its user's balance and, when its key has a quota, on the key's quota:
-- both or neither. One round trip admits a request (windows.lua comes
-- first).
-- A hold is a field of its own, `h:<instance>:<request>`, so releasing it
-- twice (a retried batch, a release after a restart) takes nothing else.
-- KEYS: the wallet, the key's quota, then the windows (none: already taken)
-- ARGV: prefix, this instance, amount, the quota's limit (-1: none), the
--       request, then two for each window
-- Reply: the windows' reply (windows.lua); when they let the request in,
--        followed by the reservation's:
--        {0} reserved; {1, available, balance} the balance is short;
--        {2, remaining} the quota is short; {3} the wallet is not loaded;
--        {4} the quota is not loaded; {5} this instance is not registered
local function reserve()
  local prefix, me = ARGV[1], ARGV[2]
  local amount, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
  local hold = 'h:' .. me .. ':' .. ARGV[5]
  if redis.call('EXISTS', prefix .. 'i:' .. me) == 0 then return {5} end
  -- Balances are being rebuilt (Redis restarted, or is an older copy):
  -- a figure still here may predate charges, so none is trusted.
  if redis.call('EXISTS', prefix .. 'rebuilding', prefix .. 'waiting') > 0 then return {3} end

  -- What live instances hold on an account, and whether a dead one (killed,
  -- cut off) held part of it. A dead instance's holds go; so does the
  -- account's figure, to be loaded again from the database: the instance
  -- may have settled requests and written their charges there without ever
  -- telling Redis (killed before its batch went out).
  local alive = {}
  local function held(account)
    local total, dead = 0, false
    local fields = redis.call('HGETALL', account)
    for i = 1, #fields, 2 do
      local field = fields[i]
      local owner = string.match(field, '^h:([^:]+):')
      if owner then
        if alive[owner] == nil then
          alive[owner] = owner == me or redis.call('EXISTS', prefix .. 'i:' .. owner) == 1
        end
        if alive[owner] then
          total = total + tonumber(fields[i + 1])
        else
          dead = true
          redis.call('HDEL', account, field)
        end
      end
    end
    return total, dead
  end

  local balance = redis.call('HGET', KEYS[1], 'balance')
  if not balance then return {3} end
  balance = tonumber(balance)
  local holding, dead = held(KEYS[1])
  if dead then
    redis.call('HDEL', KEYS[1], 'balance', 'entry')
    return {3}
  end
  local available = balance - holding
  if balance < 0 or available < amount then return {1, available, balance} end
  if limit >= 0 then
    local spent = redis.call('HGET', KEYS[2], 'spent')
    if not spent then return {4} end
    local quota_holding, quota_dead = held(KEYS[2])
    if quota_dead then
      redis.call('HDEL', KEYS[2], 'spent')
      return {4}
    end
    local remaining = limit - tonumber(spent) - quota_holding
    if remaining <= 0 or remaining < amount then return {2, math.max(remaining, 0)} end
    if amount > 0 then redis.call('HSET', KEYS[2], hold, amount) end
  end
  -- Nothing held, nothing to release.
  if amount > 0 then redis.call('HSET', KEYS[1], hold, amount) end
  return {0}
end

local taken = take_windows(3, 6)
if taken[1] ~= 0 then return taken end
local reserved = reserve()
for i = 1, #reserved do taken[#taken + 1] = reserved[i] end
return taken
