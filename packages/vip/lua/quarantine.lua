-- Quarantine entries still in force at ARGV[1] (now, ms), or all of them when ARGV[1] is '-inf'.
-- Returns {address, until, name, address, until, name, ...}.
local lo = ARGV[1]
if lo ~= '-inf' then
  lo = '(' .. lo
end
local r = redis.call('ZRANGEBYSCORE', K.quar, lo, '+inf', 'WITHSCORES')
local out = {}
for i = 1, #r, 2 do
  out[#out + 1] = r[i]
  out[#out + 1] = r[i + 1]
  out[#out + 1] = redis.call('HGET', K.qname, r[i]) or ''
end
return out
