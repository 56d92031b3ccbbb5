-- Registers an instance. When Redis had lost it (restarted empty, or the
-- instance was cut off long enough to count as dead), it first brings back
-- what it had there: the charges it settled that the database does not
-- have yet, and the holds of its requests in flight. Balances are then
-- not loaded until every instance alive before has done the same (or
-- counts as dead), however late it is: `waiting` names them.
-- ARGV: prefix, the instance, how long an instance counts as alive (ms),
--   the grace before loads (ms; 0 on a first registration), how many
--   charges, each as user key usage amount, how many holds, each as user
--   key request amount quota_amount, then the instances alive when this
--   one last looked
local prefix, me = ARGV[1], ARGV[2]
local alive, grace = tonumber(ARGV[3]), tonumber(ARGV[4])
local i = 6
for _ = 1, tonumber(ARGV[5]) do
  local user, key, usage, amount = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  redis.call('HSET', prefix .. 'p:' .. user, usage, amount)
  redis.call('HSET', prefix .. 'pk:' .. key, usage, amount)
  -- A figure loaded before this charge was back lacks it: load it again.
  redis.call('HDEL', prefix .. 'w:' .. user, 'balance', 'entry')
  redis.call('HDEL', prefix .. 'q:' .. key, 'spent')
  i = i + 4
end
local holds = tonumber(ARGV[i])
i = i + 1
for _ = 1, holds do
  local field = 'h:' .. me .. ':' .. ARGV[i + 2]
  if tonumber(ARGV[i + 3]) > 0 then
    redis.call('HSET', prefix .. 'w:' .. ARGV[i], field, ARGV[i + 3])
  end
  if tonumber(ARGV[i + 4]) > 0 then
    redis.call('HSET', prefix .. 'q:' .. ARGV[i + 1], field, ARGV[i + 4])
  end
  i = i + 5
end
redis.call('SET', prefix .. 'i:' .. me, 1, 'PX', alive)
local t = redis.call('TIME')
redis.call('ZADD', prefix .. 'instances', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), me)
local waiting = prefix .. 'waiting'
redis.call('SREM', waiting, me)
if grace > 0 then
  redis.call('SET', prefix .. 'rebuilding', 1, 'PX', grace)
  for j = i, #ARGV do
    local peer = ARGV[j]
    if peer ~= me and redis.call('EXISTS', prefix .. 'i:' .. peer) == 0 then
      redis.call('SADD', waiting, peer)
      redis.call('PEXPIRE', waiting, alive)
    end
  end
end
return 0
