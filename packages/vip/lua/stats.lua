-- Counts for the pool statistics. ARGV[1]: now (ms); ARGV[2..]: layout ranges "start:end".
-- Returns {{used count per range...}, {addresses quarantined until after now...}}.
local now = tonumber(ARGV[1])
local counts = {}
for i = 2, #ARGV do
  local s, e = range_parse(ARGV[i])
  counts[#counts + 1] = redis.call('ZCOUNT', K.used, s, e)
end
return { counts, redis.call('ZRANGEBYSCORE', K.quar, '(' .. astr(now), '+inf') }
