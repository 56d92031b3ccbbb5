-- Loads an account (a user's wallet or a key's quota) from the database's
-- figure and the charges settled on some instance but not yet in it,
-- unless it is loaded already.
-- KEYS: the account, its pending charges (usage id -> micro-credits), the
--       ledger entries applied to it while it was not loaded (entry id ->
--       micro-credits; wallets only)
-- ARGV: prefix, field ('balance' or 'spent'), the stored figure, the
--       ledger's last entry id in that snapshot ('' for a quota), the sign
--       pending charges take (-1 or 1), how many charges were pending and
--       not in the snapshot, then each as its usage id and amount, then the
--       usage ids the snapshot has
-- Reply: 0 loaded; 1 Redis came back empty too recently: instances may
--        not have brought back their pending charges and holds yet
local prefix, field = ARGV[1], ARGV[2]
if redis.call('HEXISTS', KEYS[1], field) == 1 then return 0 end
if redis.call('EXISTS', prefix .. 'rebuilding', prefix .. 'waiting') > 0 then return 1 end

local sign = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], field, ARGV[3])
-- Charges the snapshot lacks, whether or not the writer has written them
-- since (their pending entry may be gone by now).
local counted = {}
local unwritten = tonumber(ARGV[6])
for i = 7, 6 + 2 * unwritten, 2 do
  counted[ARGV[i]] = true
  redis.call('HINCRBY', KEYS[1], field, sign * tonumber(ARGV[i + 1]))
end
local written = {}
for i = 7 + 2 * unwritten, #ARGV do written[ARGV[i]] = true end
-- Settled since the snapshot's list was read: not in the snapshot either.
local pending = redis.call('HGETALL', KEYS[2])
for i = 1, #pending, 2 do
  local id = pending[i]
  if written[id] then
    redis.call('HDEL', KEYS[2], id)
  elseif not counted[id] then
    redis.call('HINCRBY', KEYS[1], field, sign * tonumber(pending[i + 1]))
  end
end
if ARGV[4] ~= '' then
  local last = tonumber(ARGV[4])
  redis.call('HSET', KEYS[1], 'entry', ARGV[4])
  local credits = redis.call('HGETALL', KEYS[3])
  for i = 1, #credits, 2 do
    if tonumber(credits[i]) > last then
      redis.call('SET', KEYS[1] .. ':e:' .. credits[i], 1, 'EX', 86400)
      redis.call('HINCRBY', KEYS[1], field, credits[i + 1])
    end
  end
  redis.call('DEL', KEYS[3])
end
return 0
