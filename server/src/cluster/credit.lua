-- Applies a ledger entry made outside requests (a grant, an adjustment, a
-- refund) to a wallet, once: not when the wallet was loaded after it (its
-- id is not above the wallet's), not twice. A wallet not loaded keeps it
-- aside for an hour, for a load whose snapshot was read before it.
-- KEYS: the wallet, the entries kept aside
-- ARGV: the entry's id, its amount
local loaded = redis.call('HGET', KEYS[1], 'entry')
if not loaded then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], 3600)
  return 0
end
if tonumber(ARGV[1]) <= tonumber(loaded) then return 0 end
if redis.call('HSETNX', KEYS[1], 'e:' .. ARGV[1], 1) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'balance', ARGV[2])
return 1
