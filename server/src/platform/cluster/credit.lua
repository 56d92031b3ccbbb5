-- Applies a ledger entry made outside requests (a grant, an adjustment, a
-- refund) to a wallet, once: not when the wallet was loaded after it (its
-- id is not above the wallet's), not twice. A wallet not loaded keeps it
-- aside for an hour, for a load whose snapshot was read before it.
-- An entry applied leaves a marker of its own (`<wallet>:e:<entry>`, a
-- day), not a field of the wallet: every reservation reads the wallet
-- whole, and it would grow with each entry.
-- KEYS: the wallet, the entries kept aside, the entry's marker
-- ARGV: the entry's id, its amount
local loaded = redis.call('HGET', KEYS[1], 'entry')
if not loaded then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], 3600)
  return 0
end
if tonumber(ARGV[1]) <= tonumber(loaded) then return 0 end
if not redis.call('SET', KEYS[3], 1, 'NX', 'EX', 86400) then return 0 end
redis.call('HINCRBY', KEYS[1], 'balance', ARGV[2])
return 1
