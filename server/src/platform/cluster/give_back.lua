-- A successful login: the email's window starts over and the client's
-- gets the attempt back.
-- KEYS: the email's window, the client's
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  redis.call('DECR', KEYS[2])
end
return 0
