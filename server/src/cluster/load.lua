-- Loads an account (a user's wallet or a key's quota) from the database's
-- figure and the charges settled on any instance but not yet written
-- there, unless it is loaded already.
-- KEYS: the account, its pending charges (usage id -> micro-credits)
-- ARGV: prefix, field ('balance' or 'spent'), the stored figure, the
--       ledger's last entry id ('' for a quota), the sign pending charges
--       take (-1 or 1), ids already written...
-- Reply: 0 loaded; 1 Redis came back empty too recently: instances may
--        not have brought back their pending charges yet
local prefix, field = ARGV[1], ARGV[2]
if redis.call('HEXISTS', KEYS[1], field) == 1 then return 0 end
if redis.call('EXISTS', prefix .. 'rebuilding') == 1 then return 1 end

local written = {}
for i = 6, #ARGV do written[ARGV[i]] = true end
redis.call('HSET', KEYS[1], field, ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'entry', ARGV[4]) end
local sign = tonumber(ARGV[5])
local pending = redis.call('HGETALL', KEYS[2])
for i = 1, #pending, 2 do
  if written[pending[i]] then
    redis.call('HDEL', KEYS[2], pending[i])
  else
    redis.call('HINCRBY', KEYS[1], field, sign * tonumber(pending[i + 1]))
  end
end
return 0
