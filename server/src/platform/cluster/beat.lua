-- Renews an instance's registration and says which instances are alive,
-- so that each knows whom to wait for if Redis restarts empty.
-- KEYS: the registration, the instances (a sorted set by last beat)
-- ARGV: the instance, how long an instance counts as alive (ms)
-- Reply: the instances alive; none when Redis had lost this one's
--        registration (it must register again, bringing back what it had)
local alive = tonumber(ARGV[2])
if not redis.call('SET', KEYS[1], 1, 'PX', alive, 'XX') then return {} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - alive)
return redis.call('ZRANGE', KEYS[2], 0, -1)
