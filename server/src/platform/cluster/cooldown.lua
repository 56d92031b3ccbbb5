-- A failed call of a target (a deployment, or one key of a deployment),
-- counted for every instance at once.
-- KEYS: the target's cooldown, its failure count, its trial.
-- ARGV: now (ms), "rate" (a 429: cool down at once) or "fail", the
-- cooldown (ms), the failures that cool it down, the failure window (ms).
-- Replies the end of the cooldown this failure started (ms), or 0.
local now = tonumber(ARGV[1])
local cool_ms = math.max(tonumber(ARGV[3]), 1)
local cool = ARGV[2] == 'rate' or redis.call('EXISTS', KEYS[3]) == 1
if not cool then
  local failures = redis.call('INCR', KEYS[2])
  if failures == 1 then
    redis.call('PEXPIRE', KEYS[2], ARGV[5])
  end
  cool = failures >= tonumber(ARGV[4])
end
if not cool then
  return 0
end
local until_ms = now + cool_ms
redis.call('SET', KEYS[1], until_ms, 'PX', cool_ms)
redis.call('DEL', KEYS[2], KEYS[3])
return until_ms
