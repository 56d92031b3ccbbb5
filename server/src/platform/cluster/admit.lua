-- A request's rate-limit windows alone (windows.lua comes first).
-- KEYS: the windows; ARGV: two for each window
return take_windows(1, 1)
