-- Fixed windows of counts (login attempts, registrations): adds one to
-- every window, or to none when any is at its limit.
-- KEYS: the windows
-- ARGV: the window's length (ms), then each window's limit
-- Reply: {0} counted; {1, ms until the full window ends}
for i = 1, #KEYS do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    return {1, math.max(redis.call('PTTL', KEYS[i]), 0)}
  end
end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
  end
end
return {0}
