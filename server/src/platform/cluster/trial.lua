-- Claims the single trial call of a target whose cooldown ended.
-- KEYS: the target's cooldown, its trial. ARGV: the trial's lease (ms),
-- this instance.
-- Replies 0 when the caller is the trial, else how long to wait (ms).
local left = redis.call('PTTL', KEYS[1])
if left > 0 then
  return left
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[1]) then
  return 0
end
return math.max(redis.call('PTTL', KEYS[2]), 1)
