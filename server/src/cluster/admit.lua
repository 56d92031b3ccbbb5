-- Takes one cell from each of a request's rate-limit windows, or none
-- (GCRA: a window is the time it is next full; tokens used beyond the
-- limit push it into the future, a debt paid before the next request).
-- KEYS: the windows
-- ARGV: for each window, the time one cell takes to come back (µs) and
--       the limit
-- Reply: {0, remaining, reset_us, ...} for each window (reset: until full); or {1, index,
--        retry_after_us} for the first window that refused (1-based)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local next_full = {}
for i = 1, #KEYS do
  local interval, limit = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or now), now) + interval
  local over = tat - now - interval * limit
  if over > 0 then return {1, i, over} end
  next_full[i] = tat
end
local reply = {0}
for i = 1, #KEYS do
  local interval, limit = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = next_full[i]
  redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
  local remaining = math.floor((interval * limit - (tat - now)) / interval)
  reply[#reply + 1] = remaining
  -- Whole cells, as the in-memory windows say: late by less than one, never early.
  reply[#reply + 1] = (limit - remaining) * interval
end
return reply
