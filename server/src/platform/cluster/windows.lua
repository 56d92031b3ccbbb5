-- Takes one cell from each of a request's rate-limit windows, or none
-- (GCRA: a window is the time it is next full; tokens used beyond the
-- limit push it into the future, a debt paid before the next request).
-- Loaded ahead of admit.lua and reserve.lua, which call it.
-- The windows: KEYS[first_key], KEYS[first_key + 1], ...; for each, two
-- ARGV from first_arg on: the time one cell takes to come back (µs) and
-- the limit.
-- Returns {0, remaining, reset_us, ...} for each window (reset: until
-- full; {0} with no windows), or {1, index, retry_after_us} for the first
-- window that refused (1-based): then nothing was taken.
local function take_windows(first_key, first_arg)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local count = #KEYS - first_key + 1
  local function window(i)
    local at = first_arg + 2 * (i - 1)
    return KEYS[first_key + i - 1], tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  end
  local next_full = {}
  for i = 1, count do
    local key, interval, limit = window(i)
    local tat = math.max(tonumber(redis.call('GET', key) or now), now) + interval
    local over = tat - now - interval * limit
    if over > 0 then return {1, i, over} end
    next_full[i] = tat
  end
  local reply = {0}
  for i = 1, count do
    local key, interval, limit = window(i)
    local tat = next_full[i]
    redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
    local remaining = math.floor((interval * limit - (tat - now)) / interval)
    reply[#reply + 1] = remaining
    -- Whole cells, as the in-memory windows say: late by less than one, never early.
    reply[#reply + 1] = (limit - remaining) * interval
  end
  return reply
end
