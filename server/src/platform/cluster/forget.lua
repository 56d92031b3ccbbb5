-- Forgets what a Redis that is not the server it was (restarted from a
-- snapshot, or a replica promoted) may hold wrongly on an account: its
-- figure (loaded again from the database) and this instance's holds (the
-- live ones are put back by the caller, the others were released since).
-- KEYS: the account
-- ARGV: this instance's hold prefix (`h:<instance>:`)
redis.call('HDEL', KEYS[1], 'balance', 'entry', 'spent')
local fields = redis.call('HKEYS', KEYS[1])
local mine = ARGV[1]
for i = 1, #fields do
  if string.sub(fields[i], 1, #mine) == mine then
    redis.call('HDEL', KEYS[1], fields[i])
  end
end
return 0
